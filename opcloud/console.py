"""The one place where opcloud writes to the terminal.

Human output goes through `console` (rich, stdout); errors and progress through `err_console` (stderr)
so that `--json` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    err_console: Console


@cache
def _console(stderr: bool) -> Console:
    # rich costs ~20 ms to import: only a command that prints for humans (or fails) pays for it.
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def __getattr__(name: str) -> Any:
    """`console` and `err_console`, made on first use (PEP 562), so `--json` runs never import rich."""
    if name == "console":
        return _console(False)
    if name == "err_console":
        return _console(True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (no colour, stable key order for diffs in CI)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """One line on stderr, never a traceback: the user must see what to fix."""
    first_line = " ".join(message.split()) if "\n" in message else message
    _console(True).print(f"[bold red]error:[/] {first_line}", markup=True, highlight=False, soft_wrap=True)
