"""A key range `[lo, hi)`: the unit a sharded copy hands to one task, in the UTF-8 byte order stores list in."""

from __future__ import annotations

from dataclasses import dataclass

_LAST_CHAR = "\U0010ffff"


@dataclass(frozen=True)
class KeyRange:
    lo: str = ""  # inclusive; "" is the start of the key space
    hi: str | None = None  # exclusive; None is its end

    def __post_init__(self) -> None:
        if self.hi is not None and self.hi <= self.lo:
            raise ValueError(f"empty key range [{self.lo!r}, {self.hi!r})")

    def contains(self, key: str) -> bool:
        return key >= self.lo and (self.hi is None or key < self.hi)

    def start_after(self) -> str | None:
        """An exclusive lower bound for Store.list at or just before `lo` (stores take exclusive bounds): keys
        between it and `lo` are few (they continue it past U+10FFFF) and dropped by `contains`."""
        if not self.lo:
            return None
        last = ord(self.lo[-1])
        return self.lo[:-1] + chr(last - 1) + _LAST_CHAR if last > 0 else self.lo[:-1]

    def common_prefix(self) -> str:
        """What every key of the range starts with (the head `lo` and `hi` share): a listing prefix that keeps a
        store from reading past the range's folder where it cannot stop at `hi` itself (Azure)."""
        if self.hi is None:
            return ""
        shared = 0
        for low, high in zip(self.lo, self.hi, strict=False):
            if low != high:
                break
            shared += 1
        return self.lo[:shared]

    def __str__(self) -> str:
        return f"[{self.lo!r}, {'end' if self.hi is None else repr(self.hi)})"


def after_folder(prefix: str) -> str:
    """The first key after every key under `prefix`: `2024/` -> `20240` ('/' + 1 is '0')."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
