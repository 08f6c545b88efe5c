"""Checks on paths the user names, made before any slow work starts."""

from __future__ import annotations

import os
from pathlib import Path

from opcloud.errors import InputError


def require_writable_file(path: Path, what: str) -> None:
    """Refuse an output path that cannot be written (a directory, a read-only place), before the work is done."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name for the {what}")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InputError(f"{path}: cannot write the {what} there ({parent} is not a writable directory)")


def state_home() -> Path:
    """Where opcloud keeps the state of copies by default: `$XDG_STATE_HOME/opcloud/migrate`
    (`~/.local/state/opcloud/migrate`), the same from any folder, for buckets, databases and plans."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "opcloud" / "migrate"
