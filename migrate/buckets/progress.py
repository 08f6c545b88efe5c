"""Progress of a bucket copy or verification: listing, then copying (objects and bytes) and verifying."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opcloud.progress import Display, Row

BYTES = "bytes"  # opcloud.progress.BYTES, without importing rich for it


class _NoDisplay:
    """--no-progress: no rows at all, and rich (~25 ms of start-up) never imported."""

    @contextmanager
    def phase(self, text: str) -> Iterator[None]:
        yield

    def row(self, phase: str, total: float | None, unit: str) -> Row | None:
        return None

    def close(self) -> None:
        pass


class Progress:
    def __init__(self, enabled: bool = True) -> None:
        self._display: Display | _NoDisplay = _NoDisplay()
        if enabled:
            from opcloud.progress import Display

            self._display = Display(enabled)
        self._copied: Row | None = None
        self._bytes: Row | None = None
        self._verified: Row | None = None

    @contextmanager
    def listing(self, what: str) -> Iterator[None]:
        with self._display.phase(f"listing {what} and the target..."):
            yield

    def start_copy(self, objects: int, size: int, to_verify: int | None = None) -> None:
        """Rows for copying `objects` (`size` bytes) and verifying `to_verify` objects (default: the copied)."""
        if objects:
            self._copied = self._display.row("copying", objects, "objects")
            self._bytes = self._display.row("", size, BYTES)
        self._verified = self._display.row("verifying", to_verify if to_verify is not None else objects, "objects")

    def start_verify(self, objects: int, size: int) -> None:
        """Rows for reading back `objects` (`size` bytes) and comparing them."""
        self._bytes = self._display.row("reading", size, BYTES)
        self._verified = self._display.row("verifying", objects, "objects")

    def advance_bytes(self, amount: int) -> None:
        if self._bytes is not None:
            self._bytes.advance(amount)

    def object_done(self) -> None:
        if self._copied is not None:
            self._copied.advance()

    def object_verified(self) -> None:
        if self._verified is not None:
            self._verified.advance()

    def close(self) -> None:
        self._display.close()
