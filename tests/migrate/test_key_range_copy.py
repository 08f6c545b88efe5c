"""The engine copies one key range [lo, hi), listing only that range on both sides, and checks residency itself."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.keyrange import KeyRange
from opcloud.migrate.stores.tree import TreeStore

from opcloud.errors import ResidencyError
from tests.migrate.conftest import NewUrl
from tests.migrate.data import fill, snapshot

OBJECTS = {key: (key.encode(), "text/plain", {}) for key in ["a/1", "b", "b/", "b/x/2", "b0", "c/3", "d"]}


def options(tmp_path: Path, **kwargs: Any) -> engine.CopyOptions:
    return engine.CopyOptions(state_dir=tmp_path / "state", transfers=2, progress=False, **kwargs)


def test_a_range_copies_exactly_its_keys_and_lists_only_its_range(
    new_url: NewUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = new_url("s3"), new_url("file")
    fill(source, {k: v for k, v in OBJECTS.items() if k not in ("b", "b/")})  # what a tree can hold
    calls = tmp_path / "list-calls"  # in a file: a local target tree is listed by a forked child (forklisting.py)
    def recording(name: str) -> Callable[..., Iterator[Any]]:
        original = getattr(TreeStore, name)

        def recorded(self: TreeStore, prefix: str = "", **bounds: Any) -> Iterator[Any]:
            with calls.open("a") as log:
                log.write(json.dumps([self.url, bounds]) + "\n")
            return original(self, prefix, **bounds)

        return recorded

    for name in ("list", "rows"):  # the engine loads a local tree's listing as rows (TreeStore.rows)
        monkeypatch.setattr(TreeStore, name, recording(name))
    report = engine.copy(source, target, options(tmp_path, key_range=KeyRange("b/", "c/3")))
    assert report.ok, report.failed
    during_copy = [json.loads(line) for line in calls.read_text().splitlines()]
    assert sorted(snapshot(target)) == ["b/x/2", "b0"]  # hi exclusive
    assert (report.listed, report.copied) == (2, 2)
    assert during_copy and all(b["stop_before"] == "c/3" and b["start_after"] < "b/" for _, b in during_copy)


def test_ranges_side_by_side_copy_the_whole_store_and_the_whole_pair_has_nothing_left(
    new_url: NewUrl, tmp_path: Path
) -> None:
    source, target = new_url("s3"), new_url("s3")
    fill(source, OBJECTS)
    for key_range in [KeyRange("", "b/"), KeyRange("b/", "b0"), KeyRange("b0", None)]:
        report = engine.copy(source, target, options(tmp_path, key_range=key_range))
        assert report.ok, (report.failed, report.refused)
    assert sorted(snapshot(target)) == sorted(OBJECTS)
    whole = engine.copy(source, target, options(tmp_path, dry_run=True))
    assert (whole.copied, whole.unchanged) == (0, len(OBJECTS))


def test_the_engine_refuses_a_target_outside_the_jurisdiction_before_opening_anything(
    new_url: NewUrl, tmp_path: Path
) -> None:
    source = new_url("file")
    target = tmp_path / "not-yet"  # a copy would create it
    with pytest.raises(ResidencyError, match="cannot tell where"):
        engine.copy(source, f"file://{target}", options(tmp_path, jurisdiction="UA"))
    assert not target.exists() and not (tmp_path / "state").exists()


def test_a_range_within_a_folder_is_listed_under_that_folder_only() -> None:
    """Every key of [lo, hi) starts with what lo and hi share: the listing prefix Azure needs to stop early."""
    assert KeyRange("tenders/2024/03/", "tenders/2024/030").common_prefix() == "tenders/2024/03"
    assert KeyRange("a/", "b").common_prefix() == "" and KeyRange("a/").common_prefix() == ""
