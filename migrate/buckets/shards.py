"""Split a store's key space into ranges of about `size` objects, from delimiter listings.

The ranges cover the whole key space, side by side ("" to the end), so every key - in the source, or only in the
target - falls in exactly one. A folder (a common prefix) is one range when it holds at most `size` objects,
counted by listing at most size + 1 of them; a larger one is split along its own folders, and a folder without
subfolders along its keys. The folders of one level are counted at once, on threads (the listings wait on the
service). Neighbouring small ranges are merged up to `size`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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


@dataclass(frozen=True)
class _Probe:
    prefix: str  # the listing's prefix: a folder, or the parent folder for the keys between its subfolders
    key_range: KeyRange
    gap: bool  # between folders: no folder inside, so a large one is cut by keys


def _children(store: Store, probe: _Probe) -> list[_Probe]:
    """A too-large folder split along its own folders, with the gaps between them."""
    folders = [f for f in store.list_prefixes(probe.prefix) if probe.key_range.contains(f)]
    children: list[_Probe] = []
    cursor, hi = probe.key_range.lo, probe.key_range.hi
    for folder in folders:
        end = after_folder(folder) if hi is None else min(after_folder(folder), hi)
        if folder > cursor:  # objects at this level between the folders
            children.append(_Probe(probe.prefix, KeyRange(cursor, folder), gap=True))
        children.append(_Probe(folder, KeyRange(folder, end), gap=False))
        cursor = end
    if hi is None or cursor < hi:
        children.append(_Probe(probe.prefix, KeyRange(cursor, hi), gap=True))
    return children


def _split(store: Store, size: int, threads: int) -> list[Piece]:
    """Level by level: every probe of a level counted at once (listings wait on the service, not on us)."""
    pieces: list[Piece] = []
    level = [_Probe("", KeyRange(), gap=False)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shards") as pool:
        while level:
            counts = list(pool.map(lambda p: _count(store, p.prefix, p.key_range, size + 1), level))
            large = [probe for probe, count in zip(level, counts, strict=True) if count > size]
            pieces.extend(Piece(p.key_range, c) for p, c in zip(level, counts, strict=True) if c <= size)
            splits = list(pool.map(lambda p: [] if p.gap else _children(store, p), large))
            level = []
            for probe, children in zip(large, splits, strict=True):
                if children and not (len(children) == 1 and children[0].gap):
                    level.extend(children)
                else:  # no folder inside: cut along the keys (one listing of this range)
                    pieces.extend(_by_keys(store, probe.prefix, probe.key_range, size))
    return sorted(pieces, key=lambda piece: piece.key_range.lo)


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


def find_shards(store: Store, size: int, threads: int = 16) -> list[KeyRange]:
    """Ranges of about `size` objects each, side by side over the whole key space of `store`."""
    if size < 1:
        raise ValueError("a shard holds at least one object")
    return _merged(_split(store, size, threads), size)
