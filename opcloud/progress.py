"""One progress display for every long command, on stderr (so `--json` on stdout stays clean).

Rows are named phases (listing, copying, verifying, indexing...). Each row counts in its own unit: objects, rows
and tables as counts, bytes in IEC units (KiB, MiB, GiB) as every report and summary prints them. Rate and time
left per row. Off when stderr is not a terminal or when the command was asked for no progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.text import Text

from opcloud.console import err_console

BYTES = "bytes"
# Live displays on screen now, so that an interrupt can take them down before printing its line.
_ON_SCREEN: list[Any] = []
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def iec(amount: float) -> str:
    """`1536` -> `1.5 KiB`: the one way opcloud writes sizes."""
    for unit in _IEC:
        if abs(amount) < 1024 or unit == _IEC[-1]:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def plural(amount: int, noun: str) -> str:
    """`1, "resource"` -> `1 resource`; `12345, "object"` -> `12,345 objects`."""
    return f"{amount:,} {noun}" if amount == 1 else f"{amount:,} {noun}s"


def _amount(value: float, unit: str) -> str:
    return iec(value) if unit == BYTES else f"{value:,.0f}"


class AmountColumn(ProgressColumn):
    """`3.5/10.0 MiB` for bytes, `1,200/5,000 objects` for counts."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        done = _amount(task.completed, unit)
        total = "?" if task.total is None else _amount(task.total, unit)
        return Text(f"{done}/{total}" + ("" if unit == BYTES else f" {unit}"), style="progress.download")


class RateColumn(ProgressColumn):
    """`12.3 MiB/s` for bytes, `45 objects/s` for counts."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("", style="progress.data.speed")
        unit = task.fields.get("unit", "")
        shown = f"{iec(speed)}/s" if unit == BYTES else f"{speed:,.0f} {unit}/s"
        return Text(shown, style="progress.data.speed")


class Row:
    """One phase's bar: advance it as work is done."""

    def __init__(self, display: RichProgress | None, task: Any) -> None:
        self._display, self._task = display, task

    def advance(self, amount: float = 1) -> None:
        if self._display is not None:
            self._display.advance(self._task, amount)


class Display:
    """The progress of one command: spinners for phases of unknown length, bars for the rest."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and err_console.is_terminal
        self._bars: RichProgress | None = None

    @contextmanager
    def phase(self, text: str) -> Iterator[None]:
        """A spinner with what is being done, for work whose length is not known (listing, synthesizing)."""
        if not self.enabled:
            yield
            return
        status = err_console.status(text)
        status.start()
        _ON_SCREEN.append(status)
        try:
            yield
        finally:
            _take_down(status)

    def row(self, phase: str, total: float | None, unit: str) -> Row:
        """A bar named after its phase, counting `unit` (`bytes`, `objects`, `rows`, `tables`...)."""
        if not self.enabled:
            return Row(None, None)
        if self._bars is None:
            self._bars = RichProgress(*columns(), console=err_console, transient=True)
            self._bars.start()
            _ON_SCREEN.append(self._bars)
        return Row(self._bars, self._bars.add_task(phase, total=total or None, unit=unit))

    def close(self) -> None:
        if self._bars is not None:
            _take_down(self._bars)
            self._bars = None


def columns() -> tuple[ProgressColumn, ...]:
    """The columns of every bar: phase, bar, amount in its unit, rate, time left."""
    return (
        SpinnerColumn(),
        TextColumn("{task.description:<10}"),
        BarColumn(),
        AmountColumn(),
        RateColumn(),
        TimeRemainingColumn(),
    )


def on_screen(live: Any) -> None:
    """Record a live display of a command's own (started), so an interrupt takes it down too."""
    _ON_SCREEN.append(live)


def _take_down(live: Any) -> None:
    live.stop()
    if live in _ON_SCREEN:
        _ON_SCREEN.remove(live)


def take_down(live: Any) -> None:
    """Stop a live display recorded with on_screen."""
    _take_down(live)


def take_down_all() -> None:
    """Stop every progress display on screen (before an interrupt prints its line)."""
    for live in reversed(list(_ON_SCREEN)):
        _take_down(live)
