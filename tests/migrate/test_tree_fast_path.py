"""The tree -> tree fast path (issue 16, treecopy.py) on the real file system: taken for two local trees and for
small files only, with every guarantee of the general path: SHA-256 stored with each file and in the state, the
same report, resume after kill -9, tampering caught by verify, changes seen by a rerun."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path

import pytest
from opcloud.migrate.buckets import engine, forklisting, treecopy
from opcloud.migrate.buckets.state import StateDB, state_path
from opcloud.migrate.stores.base import SHA256_KEY, StoreError
from opcloud.migrate.stores.local import ATTRIBUTE
from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.url import parse

from tests.migrate.conftest import NewUrl
from tests.migrate.data import MIB, dataset, expected, fill, same_content, snapshot
from tests.migrate.test_resume_kill import _copy_cmd, _count, _kill_when

PART = 5 * MIB  # --part-size of _copy_cmd: larger files go in resumable parts, on the general path


def _options(tmp_path: Path, **kwargs: object) -> engine.CopyOptions:
    return engine.CopyOptions(state_dir=tmp_path / "state", transfers=4, part_size=PART, progress=False, **kwargs)  # type: ignore[arg-type]


def _root(url: str) -> Path:
    return Path(url.removeprefix("file://"))


@pytest.fixture
def fast_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the fast path copied, in order (the real TreeCopier.copy runs)."""
    copied: list[str] = []
    real = treecopy.TreeCopier.copy

    def spy(self: treecopy.TreeCopier, item):  # type: ignore[no-untyped-def]
        result = real(self, item)
        copied.append(item.key)
        return result

    monkeypatch.setattr(treecopy.TreeCopier, "copy", spy)
    return copied


def _state_rows(tmp_path: Path, source: str, target: str) -> dict[str, tuple[str, int]]:
    db = state_path(tmp_path / "state", parse(source).redacted(), parse(target).redacted())
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT key, sha256, verified FROM objects")
        return {key: (sha, verified) for key, sha, verified in rows}


def test_tree_to_tree_takes_the_fast_path_for_small_files_with_the_same_proofs(
    new_url: NewUrl, tmp_path: Path, fast_copies: list[str]
) -> None:
    objects = dataset(large=PART + 1)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    report = engine.copy(source, target, _options(tmp_path))
    assert report.ok, report.failed
    small = sorted(key for key, (data, _, _) in objects.items() if len(data) <= PART)
    assert sorted(fast_copies) == small  # the large file went in resumable parts, on the general path
    assert report.copied == report.listed == len(objects) and report.copied_bytes == report.listed_bytes
    # As on the general path: small files hashed while written; the file assembled from parts is read back.
    assert report.proofs == {
        "target-checked": 0,
        "hashed-while-written": len(small),
        "service-digest": 0,
        "read-back": 1,
    }
    assert same_content(snapshot(target), expected(objects))  # content types and metadata came with the files
    rows = _state_rows(tmp_path, source, target)
    for key, (data, _, _) in objects.items():
        sha = hashlib.sha256(data).hexdigest()
        assert rows[key] == (sha, 1)  # in the state, verified
        head = open_store(target).head(key)
        assert head is not None and head.metadata is not None and head.metadata[SHA256_KEY] == sha  # with the file
    assert not list((_root(target) / ".opcloud-partial").iterdir())  # every partial file renamed into place


def test_other_pairs_and_read_back_take_the_general_path(
    new_url: NewUrl, tmp_path: Path, fast_copies: list[str]
) -> None:
    objects = dataset(large=1000)
    source, tree, again = new_url("s3"), new_url("file"), new_url("file")
    fill(source, objects)
    assert engine.copy(source, tree, _options(tmp_path)).ok
    assert fast_copies == []  # S3 -> tree: not two local trees
    checked = engine.copy(tree, again, _options(tmp_path, read_back=True))
    assert checked.ok and checked.proofs["read-back"] == len(objects)
    assert fast_copies == []  # --read-back reads every object back: the general path does
    assert same_content(snapshot(again), expected(objects))


def test_kill_9_mid_copy_then_the_rerun_loses_nothing(new_url: NewUrl, tmp_path: Path, fast_copies: list[str]) -> None:
    """Killed while small files are being written in batches of state rows: files written but not yet recorded
    are copied again by the rerun, which finishes on the fast path; the result is identical and verifies."""
    objects = {f"f/{i:04d}.bin": (os.urandom(16 * 1024), "application/octet-stream", {"n": str(i)}) for i in range(600)}
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    state = tmp_path / "state"
    db = state_path(state, parse(source).redacted(), parse(target).redacted())
    # ~9.4 MiB at 2 MiB/s: the first batch of rows lands after 2 s, well before the end.
    recorded_some = lambda: _count(db, "SELECT COUNT(*) FROM objects") > 0  # noqa: E731
    _kill_when(_copy_cmd(source, target, state, "--bwlimit", "2M"), recorded_some)
    recorded = _count(db, "SELECT COUNT(*) FROM objects")
    on_disk = len(list((_root(target) / "f").iterdir()))
    assert 0 < recorded < len(objects) and on_disk >= recorded
    report = engine.copy(source, target, _options(tmp_path))
    assert report.ok, report.failed
    assert report.copied == len(objects) - recorded == len(fast_copies)  # every unrecorded file, written or not
    assert same_content(snapshot(target), expected(objects))
    assert engine.verify(source, target, state, progress=False).ok
    assert not list((_root(target) / ".opcloud-partial").iterdir())  # the killed run's partial file swept


def test_verify_catches_a_corrupted_or_relabelled_target_file(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=1000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    assert engine.copy(source, target, _options(tmp_path)).ok
    root = _root(target)
    rotten = root / "small" / "003.bin"
    stamp = rotten.stat().st_mtime_ns
    data = bytearray(rotten.read_bytes())
    data[0] ^= 0xFF
    rotten.write_bytes(bytes(data))  # same size, and the mtime put back: only the content tells
    os.utime(rotten, ns=(stamp, stamp))
    (root / "tenders" / "UA-2024-01-01-000001-a" / "signature.p7s").write_bytes(b"changed")
    relabelled = root / "a" / "b" / "c" / "d" / "e" / "f" / "deep.json"
    blob = os.getxattr(relabelled, ATTRIBUTE).replace(b"application/json", b"text/plain")
    os.setxattr(relabelled, ATTRIBUTE, blob)
    report = engine.verify(source, target, tmp_path / "state", progress=False)
    assert not report.ok
    assert sorted(failure.key for failure in report.mismatched) == [
        "a/b/c/d/e/f/deep.json",
        "small/003.bin",
        "tenders/UA-2024-01-01-000001-a/signature.p7s",
    ]


def test_a_rerun_copies_files_changed_in_place_by_mtime_or_by_size(
    new_url: NewUrl, tmp_path: Path, fast_copies: list[str]
) -> None:
    objects = dataset(large=1000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    assert engine.copy(source, target, _options(tmp_path)).ok
    fast_copies.clear()
    root = _root(source)
    same_size = root / "small" / "001.bin"
    old = same_size.read_bytes()
    stamp = same_size.stat().st_mtime_ns
    same_size.write_bytes(bytes(b ^ 0x55 for b in old))  # same size, a new mtime
    os.utime(same_size, ns=(stamp + 1_000_000, stamp + 1_000_000))  # coarse clocks: make the mtime differ
    same_mtime = root / "small" / "002.bin"
    stamp = same_mtime.stat().st_mtime_ns
    same_mtime.write_bytes(same_mtime.read_bytes() + b"more")  # another size, the mtime put back
    os.utime(same_mtime, ns=(stamp, stamp))
    report = engine.copy(source, target, _options(tmp_path))
    assert report.ok and report.copied == 2 and report.unchanged == len(objects) - 2
    assert sorted(fast_copies) == ["small/001.bin", "small/002.bin"]
    for name in ("001.bin", "002.bin"):
        assert (_root(target) / "small" / name).read_bytes() == (root / "small" / name).read_bytes()
    assert engine.verify(source, target, tmp_path / "state", progress=False).ok
    quiet = engine.copy(source, target, _options(tmp_path))
    assert quiet.ok and quiet.copied == 0 and quiet.unchanged == len(objects)


def test_the_target_tree_is_listed_by_a_child_process_into_the_same_rows(
    new_url: NewUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = dataset(large=1000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    fill(target, dict(list(objects.items())[:5]))
    src, dst = open_store(source), open_store(target)
    children: list[str] = []
    real = forklisting.list_in_child

    def spy(infos, what):  # type: ignore[no-untyped-def]
        children.append(what)
        return real(infos, what)

    monkeypatch.setattr(forklisting, "list_in_child", spy)
    monkeypatch.setattr(forklisting, "can_fork", lambda: True)  # this test process runs server threads
    forked, threaded = StateDB.empty(), StateDB.empty()
    child = engine._start_target_listing(dst, engine._every_key)
    assert child is not None
    listed = engine._load_listings(forked, src, dst, engine._every_key, child=child)
    assert not child.path.exists()  # the child's file removed once loaded
    monkeypatch.setattr(forklisting, "can_fork", lambda: False)
    assert engine._start_target_listing(dst, engine._every_key) is None
    assert engine._load_listings(threaded, src, dst, engine._every_key) == listed == (len(objects), listed[1])
    assert children == [dst.url]

    def rows(state: StateDB) -> list[tuple[object, ...]]:
        return state.db.execute("SELECT * FROM work.dst ORDER BY key").fetchall()

    assert rows(forked) == rows(threaded) and len(rows(forked)) == 5
    assert forked.plan(delete_extra=False) == threaded.plan(delete_extra=False)


def test_a_child_listing_that_fails_says_why_in_one_line_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def unreadable() -> list[tuple[str, int, str, str]]:
        raise PermissionError("[Errno 13] Permission denied: '/srv/docs/private'")

    child = forklisting.list_in_child(unreadable, "file:///srv/docs")
    with pytest.raises(StoreError, match=r"^listing file:///srv/docs failed: PermissionError: \[Errno 13\]"):
        child.wait()
    child.discard()  # after a failure too: nothing to remove, nothing raised
    assert list(scratch.iterdir()) == []


def test_a_name_too_long_for_the_target_tree_is_refused_by_name_and_the_rest_copied(
    tmp_path: Path, fast_copies: list[str]
) -> None:
    """The target's root is longer than the source's: a key that fits under the source's root does not fit
    under the target's (PATH_MAX), and is refused by name before anything is written."""
    source_root = tmp_path / "s"
    target_root = tmp_path / ("t" * 250)
    target_root.mkdir()
    limit = open_store(f"file://{target_root}").features.keys.max_bytes
    assert limit is not None
    deep = "/".join(["d" * 250] * (limit // 251)) + "/"
    deep += "f" * (limit + 8 - len(deep))  # 8 bytes more than the target holds: the source holds it
    (source_root / deep).parent.mkdir(parents=True)
    (source_root / deep).write_bytes(b"deep")
    (source_root / "plain.txt").write_bytes(b"plain")
    report = engine.copy(f"file://{source_root}", f"file://{target_root}", _options(tmp_path))
    assert [failure.key for failure in report.refused] == [deep] and not report.ok
    assert "bytes, the target holds at most" in report.refused[0].reason
    assert fast_copies == ["plain.txt"] and (target_root / "plain.txt").read_bytes() == b"plain"
    assert not (target_root / ("d" * 250)).exists()


def test_a_target_without_extended_attributes_falls_back_to_sidecars(
    new_url: NewUrl, tmp_path: Path, fast_copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target file system that refuses user xattrs (ENOTSUP): the first file goes back to the general path,
    and so does every later one, each with its properties in a sidecar."""
    objects = dataset(large=1000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)

    def refused(*args: object) -> None:
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refused)
    report = engine.copy(source, target, _options(tmp_path))
    assert report.ok, report.failed
    assert fast_copies == [] and report.copied == len(objects)
    assert report.proofs == {
        "target-checked": 0,
        "hashed-while-written": len(objects),
        "service-digest": 0,
        "read-back": 0,
    }
    assert sorted(p.relative_to(_root(target) / ".opcloud-meta").as_posix() for p in
                  (_root(target) / ".opcloud-meta").rglob("*") if p.is_file()) == sorted(objects)  # fmt: skip
    assert same_content(snapshot(target), expected(objects))
    assert not list((_root(target) / ".opcloud-partial").iterdir())
