"""End-to-end copies between real servers: every object arrives with its content, type and metadata."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.stores.base import StoreError

from tests.migrate.conftest import NewUrl
from tests.migrate.data import MIB, dataset, expected, fill, same_content, snapshot

PAIRS = [("s3", "az"), ("s3", "sftp"), ("az", "s3"), ("sftp", "file"), ("file", "s3"), ("az", "sftp")]


def options(tmp_path: Path, **kwargs: object) -> engine.CopyOptions:
    settings: dict = {"state_dir": tmp_path / "state", "part_size": 5 * MIB, "transfers": 4, "progress": False}
    return engine.CopyOptions(**{**settings, **kwargs})


@pytest.mark.parametrize(("src", "dst"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_between_backends_then_rerun_copies_nothing(src: str, dst: str, new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset()
    source, target = new_url(src), new_url(dst)
    fill(source, objects)
    first = engine.copy(source, target, options(tmp_path))
    assert first.ok, first.failed
    assert (first.copied, first.verified, first.listed) == (len(objects), len(objects), len(objects))
    # The proof each object got: Azure checks our MD5 of every block (large objects, through the SDK) but obstore's
    # single PUT sends none: Azure lists the MD5 it computed; a tree hashes what it writes in one go (not the parts
    # of a large one); moto may ignore a checksum (any S3-compatible endpoint may). Everything else is read back.
    large = sum(len(data) > 5 * MIB for data, _, _ in objects.values())
    checked = {"az": large}.get(dst, 0)
    on_write = len(objects) - large if dst in ("sftp", "file") else 0
    by_digest = len(objects) - large if dst == "az" else 0
    assert first.proofs == {
        "target-checked": checked,
        "hashed-while-written": on_write,
        "service-digest": by_digest,
        "read-back": len(objects) - checked - on_write - by_digest,
    }
    if dst == "az":
        assert first.metadata_keys_mapped == ["tender-id", "x-kind"]
    assert same_content(snapshot(target), expected(objects))
    second = engine.copy(source, target, options(tmp_path))
    assert (second.ok, second.copied, second.unchanged) == (True, 0, len(objects))
    check = engine.verify(source, target, tmp_path / "state", progress=False)
    assert check.ok and check.verified == len(objects)


def test_round_trip_s3_azure_s3_restores_metadata_keys(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=6 * MIB)
    first, middle, last = new_url("s3"), new_url("az"), new_url("s3")
    fill(first, objects)
    assert engine.copy(first, middle, options(tmp_path)).ok
    assert engine.copy(middle, last, options(tmp_path)).ok
    assert snapshot(last) == snapshot(first)  # `tender-id` is back under its own name


def test_read_back_option_reads_back_what_the_target_checked_in_transit(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=6 * MIB)
    source, target = new_url("s3"), new_url("az")
    fill(source, objects)
    report = engine.copy(source, target, options(tmp_path, read_back=True))
    assert report.ok, report.failed
    assert (report.verified_in_transit, report.verified_read_back) == (0, len(objects))


def test_server_side_copy_within_s3_still_hashes_and_verifies(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=6 * MIB)
    source, target = new_url("s3"), new_url("s3")
    fill(source, objects)
    report = engine.copy(source, target, options(tmp_path))
    assert report.ok and report.server_side == len(objects) and report.verified == len(objects)
    assert same_content(snapshot(target), expected(objects))


def test_incremental_rerun_moves_only_changes(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=1 * MIB)
    source, target = new_url("file"), new_url("s3")
    fill(source, objects)
    assert engine.copy(source, target, options(tmp_path, delete=True)).ok
    changed = {"small/001.bin": (b"changed content", None, {}), "new/added.txt": (b"new", "text/plain", {})}
    fill(source, changed)
    src_dir = Path(source.removeprefix("file://"))
    (src_dir / "small" / "002.bin").unlink()
    report = engine.copy(source, target, options(tmp_path, delete=True))
    assert report.ok
    assert (report.copied, report.deleted, report.unchanged) == (2, 1, len(objects) - 2)
    objects.update(changed)
    del objects["small/002.bin"]
    assert same_content(snapshot(target), expected(objects))


def test_include_exclude_and_dry_run_write_nothing(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=1 * MIB)
    source, target = new_url("az"), new_url("file")
    fill(source, objects)
    dry = engine.copy(source, target, options(tmp_path, dry_run=True, include=["tenders/*", "small/*"]))
    assert dry.ok and dry.copied == 10 and not (tmp_path / "state").exists()
    assert snapshot(target) == {}
    report = engine.copy(source, target, options(tmp_path, include=["tenders/*", "small/*"], exclude=["*.p7s"]))
    assert report.ok and report.copied == 9
    assert set(snapshot(target)) == {
        k for k in objects if k.startswith(("tenders/", "small/")) and not k.endswith(".p7s")
    }


def test_verify_detects_a_corrupted_and_a_missing_target_object(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=1 * MIB)
    source, target = new_url("s3"), new_url("file")
    fill(source, objects)
    assert engine.copy(source, target, options(tmp_path)).ok
    root = Path(target.removeprefix("file://"))
    (root / "small" / "003.bin").write_bytes(b"bit rot")
    (root / "empty.txt").unlink()
    report = engine.verify(source, target, tmp_path / "state", progress=False)
    assert not report.ok
    assert report.missing == ["empty.txt"]
    assert [failure.key for failure in report.mismatched] == ["small/003.bin"]
    # The next copy notices the changed target and repairs both.
    again = engine.copy(source, target, options(tmp_path))
    assert again.ok and again.copied == 2
    assert engine.verify(source, target, tmp_path / "state", progress=False).ok


@pytest.mark.parametrize("target_kind", ["az", "s3"])
def test_resumed_upload_restarts_when_the_source_changed_under_the_same_version(
    target_kind: str, new_url: NewUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A file's version is its size and mtime: rewrite part 1 in place and put the mtime back, and only the
    content tells. The kept parts must not be reused: the target would mix old and new bytes, and (Azure
    checking in transit) nothing would read it back. The old upload is aborted: S3 would keep its parts."""
    from opcloud.migrate.stores.azure import AzureStore
    from opcloud.migrate.stores.s3 import S3Store

    store_class: type[AzureStore] | type[S3Store] = AzureStore if target_kind == "az" else S3Store
    part = max(1 * MIB, store_class.min_part_size)
    source, target = new_url("file"), new_url(target_kind)
    original = os.urandom(3 * part)
    fill(source, {"big.bin": (original, None, {})})
    real_upload_part = store_class.upload_part

    def crash_at_part_3(
        self: AzureStore | S3Store, key: str, upload_id: str, number: int, size: int, data: bytes
    ) -> None:
        if number == 3:
            raise StoreError("crash before part 3")  # permanent: the copy gives up with parts 1 and 2 staged
        real_upload_part(self, key, upload_id, number, size, data)  # type: ignore[arg-type]

    monkeypatch.setattr(store_class, "upload_part", crash_at_part_3)
    first = engine.copy(source, target, options(tmp_path, part_size=part))
    assert not first.ok and [f.key for f in first.failed] == ["big.bin"]
    monkeypatch.setattr(store_class, "upload_part", real_upload_part)

    path = Path(urlsplit(source).path) / "big.bin"
    stamp = path.stat()
    changed = b"\x00" * 1000 + original[1000:]
    path.write_bytes(changed)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    second = engine.copy(source, target, options(tmp_path, part_size=part))
    assert second.ok and second.resumed_parts == 0, second.failed
    assert same_content(snapshot(target), expected({"big.bin": (changed, None, {})}))
    if target_kind == "s3":
        bucket = urlsplit(target).netloc
        unfinished = request.getfixturevalue("s3_server").client().list_multipart_uploads(Bucket=bucket)
        assert unfinished.get("Uploads", []) == []
