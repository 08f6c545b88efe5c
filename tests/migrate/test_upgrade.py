"""A state written before change tags carried S3's LastModified: the upgrade recopies nothing that is still the
same (an archive of 100 million objects must not be copied twice), compares each such object's properties once,
renews its tag, and still recopies one whose metadata changed."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.state import state_path

from tests.migrate.conftest import NewUrl
from tests.migrate.test_same_object import HEADERS, _bucket, _wait_for_a_new_second, options, s3_fill
from tests.servers.s3 import S3Server


def _state(tmp_path: Path) -> Path:
    (path,) = (tmp_path / "state").glob("buckets-*.sqlite")  # one pair per test
    return path


def _legacy_tags(tmp_path: Path) -> None:
    """Rewrite the state's tags as an earlier version recorded them: the bare version (ETag)."""
    with sqlite3.connect(_state(tmp_path)) as db:
        db.execute("UPDATE objects SET src_version = substr(src_version, 1, instr(src_version, '@') - 1)")
        assert db.execute("SELECT COUNT(*) FROM objects WHERE src_version LIKE '%@%'").fetchone() == (0,)


def _tags(tmp_path: Path) -> dict[str, str]:
    with sqlite3.connect(_state(tmp_path)) as db:
        return dict(db.execute("SELECT key, src_version FROM objects"))


def test_legacy_tags_are_renewed_without_recopying(s3_server: S3Server, new_url: NewUrl, tmp_path: Path) -> None:
    source, target = new_url("s3"), new_url("file")
    s3_fill(s3_server, source, {"a.pdf": b"%PDF-a", "b.pdf": b"%PDF-b"}, HEADERS, {"status": "draft"})
    assert engine.copy(source, target, options(tmp_path)).ok
    _legacy_tags(tmp_path)
    upgraded = engine.copy(source, target, options(tmp_path))
    assert upgraded.ok and (upgraded.copied, upgraded.unchanged) == (0, 2)
    assert all("@" in tag for tag in _tags(tmp_path).values())  # renewed once
    again = engine.copy(source, target, options(tmp_path))
    assert again.ok and (again.copied, again.unchanged) == (0, 2)


def test_a_legacy_tagged_object_whose_metadata_changed_is_recopied(
    s3_server: S3Server, new_url: NewUrl, tmp_path: Path
) -> None:
    source, target = new_url("s3"), new_url("file")
    s3_fill(s3_server, source, {"a.pdf": b"%PDF-a", "b.pdf": b"%PDF-b"}, HEADERS, {"status": "draft"})
    assert engine.copy(source, target, options(tmp_path)).ok
    _legacy_tags(tmp_path)
    bucket, prefix = _bucket(source)
    client = s3_server.client()
    _wait_for_a_new_second(client.head_object(Bucket=bucket, Key=prefix + "a.pdf")["LastModified"])
    client.copy_object(
        Bucket=bucket,
        Key=prefix + "a.pdf",
        CopySource={"Bucket": bucket, "Key": prefix + "a.pdf"},
        MetadataDirective="REPLACE",
        Metadata={"status": "signed"},
        ContentType="application/pdf",
    )
    upgraded = engine.copy(source, target, options(tmp_path))
    assert upgraded.ok and (upgraded.copied, upgraded.unchanged) == (1, 1)
    assert engine.verify(source, target, tmp_path / "state", progress=False).ok


def test_state_files_are_named_after_their_pair_and_old_names_are_kept(tmp_path: Path) -> None:
    source, target = "s3://prozorro-docs/tenders/?region=eu-central-1", "file:///srv/documents"
    name = state_path(tmp_path, source, target).name
    assert name.startswith("buckets-s3-prozorro-docs-tenders--file-srv-documents-") and name.endswith(".sqlite")
    digest = hashlib.sha256((source + "\n" + target).encode()).hexdigest()[:16]
    legacy = tmp_path / f"buckets-{digest}.sqlite"
    legacy.write_bytes(b"")
    assert state_path(tmp_path, source, target) == legacy  # a state of an earlier version keeps its name
