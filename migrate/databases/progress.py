"""Progress of a copy on stderr (rich): one bar per table with bytes and rate, a line per finished table."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.progress import (
    Progress,
    TaskID,
)

from opcloud.console import err_console
from opcloud.progress import BYTES, columns, iec, on_screen, take_down


class CopyProgress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._progress = Progress(
            *columns(),
            console=err_console,
            transient=True,
            disable=not enabled or not err_console.is_terminal,
        )

    def __enter__(self) -> CopyProgress:
        self._progress.start()
        on_screen(self._progress)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        take_down(self._progress)

    def log(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self._started
            self._progress.console.print(f"[{elapsed:6.1f}s] {message}", markup=False, highlight=False)

    def add(self, key: str, total: int, unit: str = BYTES) -> None:
        with self._lock:
            self._tasks[key] = self._progress.add_task(key, total=max(total, 1), unit=unit)

    def advance(self, key: str, amount: int) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._progress.advance(task, amount)

    def finish(self, key: str, rows: int, nbytes: int, seconds: float) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            self._progress.remove_task(task)
        rate = iec(nbytes / seconds) + "/s" if seconds > 0 else "-"
        self.log(f"copied {key}: {rows} rows, {iec(nbytes)} in {seconds:.1f}s ({rate})")
