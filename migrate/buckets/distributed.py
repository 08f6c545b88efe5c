"""A bucket copy spread over a Dask cluster: the coordinator splits, workers copy ranges under a lease.

The coordinator checks residency (before any shard exists or any worker starts), opens both stores, splits the
source's key space into ranges (shards.py), creates the pair's PostgreSQL state of record, and submits one task
per range to the cluster: a LocalCluster of `workers` processes, or the scheduler at `scheduler`. A task takes the
range's lease, runs the same engine as a single machine on that range (which checks residency again) and returns
its report. Dask reruns the task of a worker that died; the rerun waits for the lease, which PostgreSQL drops
with the dead worker's connection, and copies what is not yet recorded. The final report is read from the state.

`distributed` is imported here only, and this module only when --workers or --scheduler is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.keyrange import KeyRange
from opcloud.migrate.buckets.pgstate import Lease, PgRecord, check_url, schema_name
from opcloud.migrate.buckets.shards import find_shards
from opcloud.migrate.residency import check_within
from opcloud.migrate.stores.base import PartialFilesStore
from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.url import parse

from opcloud.errors import InputError

DEFAULT_SHARD_SIZE = 100_000
LEASE_WAIT = 600.0  # seconds a rerun waits for a live holder of its shard's lease before it fails
_SUMMED = ("listed", "listedBytes", "unchanged", "deleted", "resumedParts", "serverSide", "verifiedInTransit",
           "verifiedOnWrite", "verifiedByServiceDigest", "verifiedReadBack", "verifiedPartially", "resent")  # fmt: skip
_JOINED = ("failed", "refused")


def run_shard(
    source_url: str, target_url: str, options: engine.CopyOptions, lease_wait: float = LEASE_WAIT
) -> dict[str, Any]:
    """One range on a worker: under its lease, the engine's copy of that range; its report as a dict."""
    assert options.state_database is not None and options.key_range is not None
    schema = schema_name(parse(source_url).redacted(), parse(target_url).redacted())
    with Lease(options.state_database, schema, str(options.key_range), wait=lease_wait):
        return engine.copy(source_url, target_url, options).to_dict()


def _cluster_client(workers: int | None, scheduler: str | None) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster  # lazily: only sharded runs pay for importing Dask

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def copy_sharded(
    source_url: str,
    target_url: str,
    options: engine.CopyOptions,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int | None = None,
    scheduler: str | None = None,
    on_shard: Callable[[int, int, dict[str, Any]], None] | None = None,
    lease_wait: float = LEASE_WAIT,
) -> dict[str, Any]:
    """Copy `source_url` to `target_url` over a cluster; the report (a copy report's fields, summed over the
    ranges' final runs, with the counts of the state of record) as a dict. `on_shard(done, total, report)`
    is called as each range finishes (progress summed over shards)."""
    if options.jurisdiction:
        check_within(options.jurisdiction, [target_url])  # before any shard exists or any worker starts
    if not options.state_database:
        raise InputError("a copy over several workers needs state_database: postgresql://USER@HOST[:PORT]/DB")
    check_url(options.state_database)
    if (workers is None) == (scheduler is None):
        raise InputError("give either a number of workers (a local cluster) or a scheduler address")
    started_wall, started = time.time(), time.monotonic()
    source, target = engine.open_pair(source_url, target_url, "create")
    try:
        ranges = find_shards(source, shard_size)
        PgRecord(options.state_database, source.url, target.url, create=True).close()
        names = (source.url, target.url)
    finally:
        source.close()
        target.close()
    shard_options = replace(options, progress=False, sweep_partials=False, dry_run=False)
    client, cluster = _cluster_client(workers, scheduler)
    reports: list[dict[str, Any]] = []
    try:
        from distributed import as_completed

        futures = {
            client.submit(
                run_shard, source_url, target_url, replace(shard_options, key_range=key_range), lease_wait, pure=False,
                key=f"opcloud-shard-{index}-{time.monotonic_ns()}",
            ): key_range
            for index, key_range in enumerate(ranges)
        }  # fmt: skip
        for future in as_completed(futures):
            try:
                report = future.result()
            except Exception as error:  # the shard failed for good (its lease never came, Dask gave up on it...)
                report = _failed_shard(futures[future], error)
            future.release()  # a finished range is not recomputed when its worker dies later
            reports.append(report)
            if on_shard:
                on_shard(len(reports), len(ranges), report)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    _sweep(target_url, options.state_database, names)
    return _summary(names, ranges, reports, options.state_database, started_wall, time.monotonic() - started)


def _failed_shard(key_range: KeyRange, error: BaseException) -> dict[str, Any]:
    """A shard that raised instead of reporting: named in `failed` (exit 1), the other shards' work kept."""
    text = str(error).splitlines()[0] if str(error) else ""
    return {"ok": False, "failed": [{"key": f"(shard {key_range})", "reason": f"{type(error).__name__}: {text}"[:300]}]}


def _sweep(target_url: str, state_database: str, names: tuple[str, str]) -> None:
    """Partial files of writes that died with a worker, removed once no shard runs (a shard cannot tell another
    shard's live partial file from a dead one's); those of uploads still recorded stay, to be resumed."""
    target = open_store(target_url)
    try:
        if isinstance(target, PartialFilesStore):
            record = PgRecord(state_database, *names)
            try:
                target.sweep_partials(record.upload_ids())
            finally:
                record.close()
    finally:
        target.close()


def _summary(
    names: tuple[str, str],
    ranges: list[KeyRange],
    reports: list[dict[str, Any]],
    state_database: str,
    started_wall: float,
    seconds: float,
) -> dict[str, Any]:
    record = PgRecord(state_database, *names)
    try:
        state = record.counts()
        copied, copied_bytes = record.copied_since(started_wall)
    finally:
        record.close()
    summary: dict[str, Any] = {"kind": "copy", "source": names[0], "target": names[1], "dryRun": False}
    for name in _SUMMED:
        summary[name] = sum(int(report.get(name, 0)) for report in reports)
    proofs: dict[str, int] = {}
    for report in reports:
        for proof, count in report.get("proofs", {}).items():
            proofs[proof] = proofs.get(proof, 0) + int(count)
    summary["proofs"] = proofs
    for name in _JOINED:
        summary[name] = sorted((item for report in reports for item in report.get(name, [])), key=lambda f: f["key"])
    first = reports[0] if reports else {}
    summary.update(
        carried=first.get("carried", []), notCarried=first.get("notCarried", []), would=[],
        metadataKeysMapped=sorted({k for report in reports for k in report.get("metadataKeysMapped", [])}),
        copied=copied, copiedBytes=copied_bytes,  # from the state: a killed worker's copies count too
        verified=state["verified"], shards=len(ranges), state=state, seconds=round(seconds, 3),
    )  # fmt: skip
    summary["ok"] = (
        len(reports) == len(ranges)
        and all(report.get("ok") for report in reports)
        and state["objects"] == state["verified"]
        and state["uploadsInFlight"] == 0
    )
    return summary
