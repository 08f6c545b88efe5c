"""Split a store's key space into ranges of about `size` objects, from delimiter listings.

The ranges cover the whole key space, side by side ("" to the end), so every key - in the source, or only in the
target - falls in exactly one. A folder (a common prefix) is one range when it holds at most `size` objects,
counted by listing at most size + 1 of them; a larger one is split along its own folders, and a folder without
subfolders along its keys. Neighbouring small ranges are merged up to `size`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from opcloud.migrate.buckets.keyrange import KeyRange, after_folder
from opcloud.migrate.stores.base import Store


@dataclass(frozen=True)
class Piece:
    key_range: KeyRange
    objects: int  # counted, or at most `size` when it was not counted further


def _count(store: Store, prefix: str, key_range: KeyRange, limit: int) -> int:
    """Objects under `prefix` in `key_range`, counted up to `limit` (the listing stops there)."""
    listing = store.list(prefix, start_after=key_range.start_after(), stop_before=key_range.hi)
    return sum(1 for info in islice(listing, limit) if key_range.contains(info.key))


def _by_keys(store: Store, prefix: str, key_range: KeyRange, size: int) -> list[Piece]:
    """A range without folders, cut every `size` keys (one listing of it)."""
    pieces, lo, count = [], key_range.lo, 0
    for info in store.list(prefix, start_after=key_range.start_after(), stop_before=key_range.hi):
        if not key_range.contains(info.key):
            continue
        if count == size:
            pieces.append(Piece(KeyRange(lo, info.key), count))
            lo, count = info.key, 0
        count += 1
    pieces.append(Piece(KeyRange(lo, key_range.hi), count))
    return pieces


def _split(store: Store, prefix: str, key_range: KeyRange, size: int) -> list[Piece]:
    counted = _count(store, prefix, key_range, size + 1)
    if counted <= size:
        return [Piece(key_range, counted)]
    folders = [f for f in store.list_prefixes(prefix) if key_range.contains(f) and f.startswith(prefix)]
    if not folders:
        return _by_keys(store, prefix, key_range, size)
    pieces: list[Piece] = []
    cursor = key_range.lo
    for folder in folders:
        end = after_folder(folder)
        if key_range.hi is not None and end > key_range.hi:
            end = key_range.hi
        if folder > cursor:  # objects at this level between the folders
            pieces.extend(_split_gap(store, prefix, KeyRange(cursor, folder), size))
        pieces.extend(_split(store, folder, KeyRange(folder, end), size))
        cursor = end
    if key_range.hi is None or cursor < key_range.hi:
        pieces.extend(_split_gap(store, prefix, KeyRange(cursor, key_range.hi), size))
    return pieces


def _split_gap(store: Store, prefix: str, key_range: KeyRange, size: int) -> list[Piece]:
    """Keys between two folders (no folder inside): one piece, or cut by keys when large."""
    counted = _count(store, prefix, key_range, size + 1)
    return [Piece(key_range, counted)] if counted <= size else _by_keys(store, prefix, key_range, size)


def _merged(pieces: list[Piece], size: int) -> list[KeyRange]:
    """Neighbouring pieces joined while their objects stay within `size` (empty gaps vanish into neighbours)."""
    ranges: list[KeyRange] = []
    lo, count = pieces[0].key_range.lo, 0
    for piece in pieces:
        if count and count + piece.objects > size:
            ranges.append(KeyRange(lo, piece.key_range.lo))
            lo, count = piece.key_range.lo, 0
        count += piece.objects
    ranges.append(KeyRange(lo, pieces[-1].key_range.hi))
    return ranges


def find_shards(store: Store, size: int) -> list[KeyRange]:
    """Ranges of about `size` objects each, side by side over the whole key space of `store`."""
    if size < 1:
        raise ValueError("a shard holds at least one object")
    return _merged(_split(store, "", KeyRange(), size), size)
