"""Sharded copies over a Dask LocalCluster of 2 worker processes, moto and files, the PostgreSQL state of record."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import psycopg
import pytest
from opcloud.migrate import runner
from opcloud.migrate.buckets import render, transfer
from opcloud.migrate.buckets.pgstate import Lease, PgRecord, schema_name
from opcloud.migrate.buckets.shards import find_shards
from opcloud.migrate.plan import BucketPair, Plan
from opcloud.migrate.stores.base import SHA256_KEY
from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.url import parse

from opcloud.errors import ResidencyError
from tests.migrate.conftest import NewUrl
from tests.migrate.data import fill, read_all
from tests.servers.s3 import S3Server

# Three folders, a nested one and loose objects: shards of 4 cut across all of them.
OBJECTS = {
    **{f"tenders/{n:03d}/bid.pdf": (os.urandom(20_000), "application/pdf", {"id": f"UA-{n}"}) for n in range(12)},
    **{f"contracts/{n:02d}.p7s": (os.urandom(20_000), None, {}) for n in range(8)},
    "readme.txt": (b"archive", "text/plain", {}),
    "z/deep/a/b/c.json": (b"{}", "application/json", {}),
}


def _plan(tmp_path: Path, source: str, target: str, state_url: str, **settings: Any) -> Plan:
    pair = BucketPair(name="documents", source=source, target=target)
    return Plan(name="archive", state_dir=tmp_path / "unused", state_database=state_url, shard_size=4,
                transfers=2, buckets=[pair], **settings)  # fmt: skip


def _independent_check(source: str, target: str) -> dict[str, str]:
    """key -> SHA-256 read straight from both stores, the same on each side (content and our stored hash)."""
    found = {}
    for url in (source, target):
        store = open_store(url)
        try:
            found[url] = {info.key: hashlib.sha256(read_all(store, info.key)).hexdigest() for info in store.list()}
            if url == target:
                for key, digest in found[url].items():
                    head = store.head(key)
                    assert head is not None and (head.metadata or {}).get(SHA256_KEY) == digest, key
        finally:
            store.close()
    assert found[source] == found[target]
    return found[target]


@pytest.fixture
def local_cluster(s3_server: S3Server, state_url: str) -> Iterator[Any]:
    """Workers started once the credentials are in the environment: as on a real cluster, each worker finds
    its own (S3 chain, pgpass file); no secret travels in the task graph."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def test_a_sharded_run_copies_exactly_and_the_whole_pair_then_has_nothing_to_do(
    new_url: NewUrl, tmp_path: Path, state_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = new_url("s3"), new_url("file")
    fill(source, OBJECTS)
    plan = _plan(tmp_path, source, target, state_url)
    report = runner.execute(plan, "run", progress=False, cluster=runner.Cluster(workers=2))
    pair = report.pairs[0]["report"]
    assert report.ok, (pair["failed"], pair["refused"])
    assert pair["shards"] >= 6 and pair["listed"] == len(OBJECTS)
    assert pair["state"] == {"objects": len(OBJECTS), "verified": len(OBJECTS),
                             "bytes": sum(len(v[0]) for v in OBJECTS.values()), "uploadsInFlight": 0}  # fmt: skip
    assert pair["copied"] == len(OBJECTS), pair  # read from the state
    render.plan_report(report.to_dict())
    assert f"the state records {len(OBJECTS)} objects, {len(OBJECTS)} verified" in capsys.readouterr().out
    assert len(_independent_check(source, target)) == len(OBJECTS)
    again = runner.execute(plan, "plan", progress=False).pairs[0]["report"]  # the whole pair, one dry run
    assert (again["copied"], again["unchanged"], again["listed"]) == (0, len(OBJECTS), len(OBJECTS))
    status = runner.execute(plan, "status", progress=False).pairs[0]["report"]
    assert status["ok"] and status["verified"] == len(OBJECTS)
    hashed: list[str] = []
    original = transfer.hash_stream
    monkeypatch.setattr(transfer, "hash_stream", lambda ctx, store, *a, **k: hashed.append(store.url) or original(
        ctx, store, *a, **k))  # fmt: skip
    checked = runner.execute(plan, "verify", progress=False).pairs[0]["report"]
    assert checked["ok"] and checked["verified"] == len(OBJECTS)
    assert hashed and parse(source).redacted() not in hashed  # the source's SHA-256s came from the record


def test_a_worker_killed_mid_shard_changes_nothing_in_the_result(
    new_url: NewUrl, tmp_path: Path, state_url: str, local_cluster: Any
) -> None:
    source, target = new_url("s3"), new_url("file")
    fill(source, OBJECTS)
    root = Path(target.removeprefix("file://"))
    plan = _plan(tmp_path, source, target, state_url, bwlimit="200K")  # ~0.1 s an object: shards take a while
    watcher = distributed.Client(local_cluster)
    pids = watcher.run(os.getpid)  # worker address -> pid of its process
    killed: list[tuple[int, str]] = []

    def kill_a_worker_mid_shard() -> None:
        """SIGKILL a worker while it runs a shard and objects are landing in the target."""
        while not killed:
            written = [
                p for p in root.rglob("*")
                if p.is_file() and not any(part.startswith(".opcloud") for part in p.relative_to(root).parts)
            ]  # fmt: skip
            if 3 <= len(written) < len(OBJECTS) - 4:
                busy = [(address, keys) for address, keys in watcher.processing().items() if keys]
                if busy:
                    address, keys = busy[0]
                    os.kill(pids[address], signal.SIGKILL)
                    killed.append((pids[address], str(keys[0])))
                    return
            threading.Event().wait(0.02)

    killer = threading.Thread(target=kill_a_worker_mid_shard, daemon=True)
    killer.start()
    cluster = runner.Cluster(scheduler=local_cluster.scheduler_address)
    report = runner.execute(plan, "run", progress=False, cluster=cluster)
    killed.append((0, ""))  # stops the killer if it never fired
    killer.join(5)
    watcher.close()
    assert killed[0][0] != 0, "no worker was killed mid-shard: the test proved nothing"
    assert killed[0][1].startswith("opcloud-shard-")  # it was running a shard
    pair = report.pairs[0]["report"]
    assert report.ok, (pair["failed"], pair["refused"])
    assert pair["state"]["objects"] == pair["state"]["verified"] == len(OBJECTS)
    assert len(_independent_check(source, target)) == len(OBJECTS)
    assert not list((root / ".opcloud-partial").glob("*"))  # what the killed write left was swept at the end
    again = runner.execute(plan, "plan", progress=False).pairs[0]["report"]
    assert (again["copied"], again["unchanged"]) == (0, len(OBJECTS))


def test_residency_is_refused_before_any_worker_starts(
    new_url: NewUrl, tmp_path: Path, state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = new_url("s3"), new_url("file")  # a file tree says nowhere where it lies
    fill(source, {"a": (b"x", None, {})})
    started: list[str] = []
    monkeypatch.setattr(distributed, "LocalCluster", lambda *a, **k: started.append("cluster"))
    plan = _plan(tmp_path, source, target, state_url, jurisdiction="UA", state_database_country="UA")
    with pytest.raises(ResidencyError, match="cannot tell where file://"):
        runner.execute(plan, "run", progress=False, cluster=runner.Cluster(workers=2))
    assert started == [] and list(Path(target.removeprefix("file://")).iterdir()) == []


def _recorded(state_url: str, names: tuple[str, str]) -> int:
    if not PgRecord.exists(state_url, *names):
        return 0
    record = PgRecord(state_url, *names)
    try:
        return record.counts()["objects"]
    finally:
        record.close()


def test_a_leased_shard_waits_for_its_holder_and_is_taken_over_when_the_holder_dies(
    new_url: NewUrl, tmp_path: Path, state_url: str
) -> None:
    source, target = new_url("s3"), new_url("file")
    fill(source, OBJECTS)
    names = (parse(source).redacted(), parse(target).redacted())
    store = open_store(source)
    try:
        first = find_shards(store, 4)[0]
    finally:
        store.close()
    in_first = [key for key in OBJECTS if first.contains(key)]
    holder = Lease(state_url, schema_name(*names), str(first))  # another worker, alive, holds the first shard
    plan = _plan(tmp_path, source, target, state_url)
    reports: list[runner.PlanReport] = []
    run = threading.Thread(
        target=lambda: reports.append(runner.execute(plan, "run", progress=False, cluster=runner.Cluster(workers=2)))
    )
    run.start()
    try:
        for _ in range(1200):  # every other shard finishes (a safety bound of ~2 minutes, not a speed check)
            if _recorded(state_url, names) == len(OBJECTS) - len(in_first):
                break
            threading.Event().wait(0.1)
        copied_meanwhile = {p.relative_to(Path(target.removeprefix("file://"))).as_posix()
                            for p in Path(target.removeprefix("file://")).rglob("*") if p.is_file()}  # fmt: skip
        assert not set(in_first) & copied_meanwhile  # not copied while another holds its lease
        assert run.is_alive()
    finally:
        with psycopg.connect(state_url, autocommit=True) as admin:  # the holder dies: its connection goes
            admin.execute("SELECT pg_terminate_backend(%s)", (holder.conn.info.backend_pid,))
        holder.release()
        run.join()
    pair = reports[0].pairs[0]["report"]
    assert reports[0].ok, (pair["failed"], pair["refused"])
    assert len(_independent_check(source, target)) == len(OBJECTS)


def test_a_shard_that_never_gets_its_lease_fails_by_name_and_the_others_are_kept(
    new_url: NewUrl, tmp_path: Path, state_url: str
) -> None:
    from opcloud.migrate.buckets import distributed as sharded

    source, target = new_url("s3"), new_url("file")
    fill(source, OBJECTS)
    names = (parse(source).redacted(), parse(target).redacted())
    store = open_store(source)
    try:
        first = find_shards(store, 4)[0]
    finally:
        store.close()
    options = runner._options(_plan(tmp_path, source, target, state_url), BucketPair(
        name="d", source=source, target=target), progress=False)  # fmt: skip
    with Lease(state_url, schema_name(*names), str(first)):  # a live holder that never lets go
        summary = sharded.copy_sharded(source, target, options, 4, workers=2, lease_wait=0.5)
    assert not summary["ok"]
    assert [f["key"] for f in summary["failed"]] == [f"(shard {first})"]
    assert "LeaseTimeout" in summary["failed"][0]["reason"]
    assert summary["state"]["objects"] == len([k for k in OBJECTS if not first.contains(k)])


def test_the_state_database_must_lie_inside_the_jurisdiction(tmp_path: Path, state_url: str) -> None:
    inside = "file:///srv/docs?country=UA"
    plan = _plan(tmp_path, "s3://a/?region=eu-central-1", inside, state_url, jurisdiction="UA")
    with pytest.raises(ResidencyError, match=r"state_database: cannot tell where 127\.0\.0\.1 lies"):
        runner.check_residency(plan)
    with pytest.raises(ResidencyError, match="lies in DE, outside the jurisdiction UA"):
        runner.check_residency(plan.model_copy(update={"state_database_country": "DE"}))
    runner.check_residency(plan.model_copy(update={"state_database_country": "UA"}))  # declared inside: accepted


def _parts_recorded(state_url: str, names: tuple[str, str]) -> int:
    if not PgRecord.exists(state_url, *names):
        return 0
    record = PgRecord(state_url, *names)
    try:
        row = record.conn.execute("SELECT COUNT(*) FROM parts").fetchone()
        return int(row[0]) if row else 0
    finally:
        record.close()


def test_an_upload_cut_by_a_killed_worker_is_resumed_from_the_shared_state(
    new_url: NewUrl, tmp_path: Path, state_url: str, local_cluster: Any
) -> None:
    source, target = new_url("s3"), new_url("file")  # S3 to S3 on one server would copy server-side
    big = os.urandom(13 * 1024 * 1024)
    fill(source, {"big/archive.bin": (big, "application/zip", {}), "small/a.txt": (b"a", "text/plain", {})})
    names = (parse(source).redacted(), parse(target).redacted())
    pair = BucketPair(name="documents", source=source, target=target, part_size="5M")
    plan = _plan(tmp_path, source, target, state_url, bwlimit="4M").model_copy(update={"buckets": [pair]})
    watcher = distributed.Client(local_cluster)
    pids = watcher.run(os.getpid)
    killed: list[int] = []

    def kill_the_uploader() -> None:
        while not killed:
            if _parts_recorded(state_url, names) >= 1:  # a part is sent and recorded: the upload is mid-way
                busy = [address for address, keys in watcher.processing().items() if keys]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
            threading.Event().wait(0.05)

    killer = threading.Thread(target=kill_the_uploader, daemon=True)
    killer.start()
    cluster = runner.Cluster(scheduler=local_cluster.scheduler_address)
    report = runner.execute(plan, "run", progress=False, cluster=cluster)
    killed.append(0)
    killer.join(5)
    watcher.close()
    assert killed[0] != 0, "the upload was never cut: the test proved nothing"
    result = report.pairs[0]["report"]
    assert report.ok, (result["failed"], result["refused"])
    assert result["resumedParts"] >= 1  # the rerun, on whichever worker, sent only the parts not recorded
    assert len(_independent_check(source, target)) == 2
