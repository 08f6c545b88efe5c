"""The one place where opcloud writes to the terminal.

Human output goes through `console` (rich, stdout); errors and progress through `err_console` (stderr)
so that `--json` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (no colour, stable key order for diffs in CI)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """One line on stderr, never a traceback: the user must see what to fix."""
    first_line = " ".join(message.split()) if "\n" in message else message
    err_console.print(f"[bold red]error:[/] {first_line}", markup=True, highlight=False, soft_wrap=True)
