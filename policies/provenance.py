"""Where a compliance report comes from: the tool's version, the git commit of the code and the sha256 of
every input file, so an auditor can tell exactly what was checked (and a later audit what changed)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import opcloud
from opcloud import residency

PROJECT_DIR = Path(__file__).resolve().parent.parent


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit(directory: Path = PROJECT_DIR) -> dict[str, Any]:
    """The checked-out commit and whether the tree has uncommitted changes ("unknown" outside git)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def provenance(inputs: Iterable[Path]) -> dict[str, Any]:
    """Tool version, commit and the sha256 of each input (the environment file and the residency registry)."""
    files = [*inputs, Path(residency.__file__)]
    return {
        "tool": "opcloud",
        "version": opcloud.__version__,
        **git_commit(),
        "inputs": {_display(path): sha256_of(path) for path in files},
    }


def _display(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(PROJECT_DIR)) if resolved.is_relative_to(PROJECT_DIR) else str(path)
