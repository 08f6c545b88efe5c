"""Shards from delimiter listings: side by side over the whole key space, each key in exactly one, about `size`."""

from __future__ import annotations

import itertools

import pytest
from opcloud.migrate.buckets.shards import find_shards
from opcloud.migrate.stores.registry import open_store

from tests.migrate.conftest import NewUrl
from tests.migrate.data import fill

# A top level with loose objects, a big flat folder, nested folders, and a folder-marker key (`b/`, S3 only).
KEYS = (
    ["0-first", "a.txt", "z-last"]
    + [f"big/{n:03d}" for n in range(23)]
    + [f"tenders/{year}/{n:02d}/doc.pdf" for year in (2023, 2024) for n in range(6)]
    + ["tenders/readme", "b/", "b/1"]
)


@pytest.mark.parametrize("backend", ["s3", "file"])
def test_shards_cover_every_key_once_and_hold_about_size(backend: str, new_url: NewUrl) -> None:
    keys = [k for k in KEYS if backend == "s3" or not k.endswith("/")]
    url = new_url(backend)
    fill(url, {key: (b"x", None, {}) for key in keys})
    store = open_store(url)
    try:
        ranges = find_shards(store, 5)
    finally:
        store.close()
    assert ranges[0].lo == "" and ranges[-1].hi is None
    assert all(a.hi == b.lo for a, b in itertools.pairwise(ranges))  # side by side, no gap
    held = [[key for key in keys if shard.contains(key)] for shard in ranges]
    assert sorted(key for shard in held for key in shard) == sorted(keys)  # each key in exactly one shard
    assert max(len(shard) for shard in held) <= 5
    assert len(ranges) <= 2 * (len(keys) // 5 + 1)  # small neighbours were merged


def test_a_store_smaller_than_a_shard_is_one_shard(new_url: NewUrl) -> None:
    url = new_url("file")
    fill(url, {"a/1": (b"x", None, {}), "b": (b"y", None, {})})
    store = open_store(url)
    try:
        ranges = find_shards(store, 100)
    finally:
        store.close()
    assert len(ranges) == 1 and (ranges[0].lo, ranges[0].hi) == ("", None)
