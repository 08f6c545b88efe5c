"""Progress of a sharded copy, summed over shards as they finish: shards done, objects copied and listed."""

from __future__ import annotations

from typing import Any

from opcloud.progress import Display, Row


class ShardProgress:
    def __init__(self, enabled: bool, what: str) -> None:
        self._display = Display(enabled)
        self._what = what
        self._shards: Row | None = None
        self._copied: Row | None = None
        self._listed: Row | None = None

    def shard_done(self, done: int, total: int, report: dict[str, Any]) -> None:
        if self._shards is None:
            self._shards = self._display.row(f"{self._what}: shards", total, "shards")
            self._copied = self._display.row("copied (finished shards)", None, "objects")
            self._listed = self._display.row("listed (finished shards)", None, "objects")
        self._shards.advance()
        if self._copied is not None and self._listed is not None:
            self._copied.advance(int(report.get("copied", 0)))
            self._listed.advance(int(report.get("listed", 0)))

    def __enter__(self) -> ShardProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._display.close()
