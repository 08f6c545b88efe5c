"""Ctrl-C during long work: one line saying what is kept and how to resume, exit 130, at once.

The copies and the host steps keep their progress in crash-safe state (SQLite transactions, idempotent steps:
the suites kill them with SIGKILL at random points and resume). So the first Ctrl-C does not wait for work in
flight, which could take minutes for a large part over a slow link: it restores the terminal, prints the line and
ends the process. Nothing half-written is trusted later: an object or step caught mid-way is redone by the rerun.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from opcloud.console import print_error

INTERRUPTED = 130


@contextlib.contextmanager
def resumable(what_is_kept: str) -> Iterator[None]:
    """Within this block, Ctrl-C (or SIGTERM) ends the process with `interrupted: <what_is_kept>` and exit 130."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if "opcloud.progress" in sys.modules:  # never imported: no bar on screen, and no rich to load now
            with contextlib.suppress(Exception):
                from opcloud.console import err_console
                from opcloud.progress import take_down_all

                take_down_all()  # progress bars off the screen, cursor back
                err_console.show_cursor(True)
        print_error(f"interrupted: {what_is_kept}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
