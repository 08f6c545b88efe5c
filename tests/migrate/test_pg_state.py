"""The PostgreSQL state of record, against the suite's real PostgreSQL server: one state for a pair's shards,
leases dropped with their holder's connection, uploads in flight visible to any worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.keyrange import KeyRange
from opcloud.migrate.buckets.pgstate import Lease, LeaseTimeout, PgRecord, check_url
from opcloud.migrate.buckets.state import StateDB

from opcloud.errors import InputError
from tests.migrate.conftest import NewUrl
from tests.migrate.data import fill, snapshot
from tests.servers.postgres import PASSWORD

OBJECTS = {f"{folder}/{n:03d}.txt": (f"{folder}{n}".encode(), "text/plain", {}) for folder in "abc" for n in range(4)}


def _options(tmp_path: Path, state_url: str, **kwargs: object) -> engine.CopyOptions:
    return engine.CopyOptions(
        state_dir=tmp_path / "unused", transfers=2, progress=False, state_database=state_url, **kwargs  # type: ignore[arg-type]
    )


def test_shards_share_one_state_and_the_whole_pair_then_has_nothing_to_do(
    new_url: NewUrl, tmp_path: Path, state_url: str
) -> None:
    source, target = new_url("s3"), new_url("file")
    fill(source, OBJECTS)
    opened = engine.open_pair(source, target, "create")
    PgRecord(state_url, opened[0].url, opened[1].url, create=True).close()
    for store in opened:
        store.close()
    for key_range in [KeyRange("", "b/"), KeyRange("b/", "c/"), KeyRange("c/", None)]:
        report = engine.copy(source, target, _options(tmp_path, state_url, key_range=key_range, sweep_partials=False))
        assert report.ok and report.copied == 4, report.failed
    assert sorted(snapshot(target)) == sorted(OBJECTS)
    whole = engine.copy(source, target, _options(tmp_path, state_url, dry_run=True))
    assert (whole.copied, whole.unchanged, whole.listed) == (0, len(OBJECTS), len(OBJECTS))
    record = PgRecord(state_url, opened[0].url, opened[1].url)
    try:
        assert record.counts() == {"objects": 12, "verified": 12, "bytes": sum(len(v[0]) for v in OBJECTS.values()),
                                   "uploadsInFlight": 0}  # fmt: skip
    finally:
        record.close()
    assert not (tmp_path / "unused").exists()  # no SQLite state beside the record


def test_a_state_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(InputError) as caught:
        check_url(f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/state")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(InputError):
        check_url("mysql://root@127.0.0.1/state")


def test_a_pair_without_a_record_is_refused(state_url: str) -> None:
    with pytest.raises(InputError, match="no state for this pair"):
        PgRecord(state_url, "s3://a/", "s3://b/")


def test_a_lease_is_held_by_one_and_taken_over_when_its_holder_dies(state_url: str) -> None:
    holder = Lease(state_url, "opcloud_x", "[a, b)")
    try:
        # The server drops a lease whose holder's machine vanished within about a minute, not hours.
        assert holder.conn.execute("SHOW tcp_keepalives_idle").fetchone() == ("30",)
        with pytest.raises(LeaseTimeout):
            Lease(state_url, "opcloud_x", "[a, b)", wait=0.3, poll=0.1)
        other = Lease(state_url, "opcloud_x", "[b, c)", wait=0)  # another shard is free
        other.release()
        pid = holder.conn.info.backend_pid
        with psycopg.connect(state_url, autocommit=True) as admin:  # the holder's connection dies (a killed worker)
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        taken = Lease(state_url, "opcloud_x", "[a, b)", wait=5, poll=0.1)
        taken.release()
    finally:
        holder.release()


def test_an_upload_in_flight_is_seen_by_any_worker(state_url: str) -> None:
    PgRecord(state_url, "s3://a/", "s3://b/", create=True).close()
    first = StateDB.over(PgRecord(state_url, "s3://a/", "s3://b/"), KeyRange("big/", "big0"))
    first.begin_upload("big/archive.zip", "upload-1", 8, 24, "etag-1")
    first.record_part("big/archive.zip", 1, "f" * 64)
    first.record_copied("big/done.zip", 3, "etag-2", "e" * 64, "dst-2")  # batched: not yet in the record
    other = StateDB.over(PgRecord(state_url, "s3://a/", "s3://b/"), KeyRange("big/", "big0"))
    try:
        upload = other.upload("big/archive.zip")
        assert upload is not None and (upload.upload_id, upload.parts) == ("upload-1", {1: "f" * 64})
        assert other.known_sha("big/done.zip", 3, "etag-2") is None
    finally:
        other.close()
    first.close()  # flushes the batch
    again = StateDB.over(PgRecord(state_url, "s3://a/", "s3://b/"), KeyRange())
    try:
        assert again.known_sha("big/done.zip", 3, "etag-2") == "e" * 64
        assert again.record is not None
        # Time stamps keep their seconds (a 4-byte REAL would round today's to 128 s): copies of this run count.
        assert again.record.copied_since(time.time() - 5) == (1, 3)
    finally:
        again.close()


def _keys(record: PgRecord, key_range: KeyRange) -> Iterator[str]:
    return (row[0] for row in record.objects(key_range.lo, key_range.hi))


def test_ranges_in_the_record_follow_byte_order_not_the_database_collation(state_url: str) -> None:
    PgRecord(state_url, "s3://a/", "s3://b/", create=True).close()
    state = StateDB.over(PgRecord(state_url, "s3://a/", "s3://b/"), KeyRange())
    for key in ["B", "a", "a/b", "a.b", "é"]:
        state.record_copied(key, 1, "v", "0" * 64, "d")
    state.close()
    record = PgRecord(state_url, "s3://a/", "s3://b/")
    try:
        assert sorted(_keys(record, KeyRange("B", "a/"))) == ["B", "a", "a.b"]
        assert sorted(_keys(record, KeyRange("a/", None))) == ["a/b", "é"]
    finally:
        record.close()
