"""Progress on stderr (so `--json` on stdout stays clean): objects, bytes, rate and ETA."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

from opcloud.console import err_console


class Progress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and err_console.is_terminal
        self._bar: RichProgress | None = None
        self._objects = self._bytes = None

    @contextmanager
    def listing(self, what: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with err_console.status(f"listing {what} and the target..."):
            yield

    def start_copy(self, objects: int, size: int) -> None:
        if not self.enabled:
            return
        self._bar = RichProgress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._bytes = self._bar.add_task("bytes", total=size or None)
        self._objects = self._bar.add_task("objects", total=objects or None)
        self._bar.start()

    def advance_bytes(self, amount: int) -> None:
        if self._bar is not None and self._bytes is not None:
            self._bar.advance(self._bytes, amount)

    def object_done(self) -> None:
        if self._bar is not None and self._objects is not None:
            self._bar.advance(self._objects, 1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
