"""Benchmark: sharded copies over a Dask LocalCluster (1 vs 2 vs 4 workers), and range listings vs one listing.

Part 1 - copies. Fills a source (`--store file`: a directory; `--store s3`: a moto server) with `--objects`
objects of `--size` bytes in folders of 1,000, then copies it to an empty target: once with the single-machine
engine (`migrate copy`, no Dask), then with `copy_sharded` on a LocalCluster of each of `--workers` processes
(shards of `--shard-size`; a PostgreSQL state of record started here; the cluster is started before the clock
runs). Prints seconds, objects per second and
the speed-up against 1 worker, and the measured cost per shard (seconds x workers / shards) from which
`--project` objects are projected.

Part 2 - listings. Writes `--keys` empty keys (a file tree, or moto) and lists them once from end to end, then
as the ranges `find_shards` gives (`--shard-size` each), one after another and on `--list-threads` threads.

Not part of the test run; the machine is shared: run small sizes only unless it is quiet.

    .venv/bin/python -m bench.sharded [--store file|s3] [--objects 2000] [--size 4096] [--workers 1,2,4]
                                      [--shard-size 250] [--keys 20000] [--list-threads 4] [--project 100000000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from tests.servers.postgres import Cluster, start_cluster, stop_cluster
from tests.servers.process import free_port, start, stop, wait_for_port

MOTO = str(Path(sys.executable).parent / "moto_server")
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


class Places:
    """New empty locations on one kind of store: directories, or buckets of one moto server."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind, self.work, self.count = kind, work, 0
        self.moto = None
        if kind == "s3":
            port = free_port()
            self.moto = start([MOTO, "-H", "127.0.0.1", "-p", str(port)], work / "moto.log")
            wait_for_port(port, self.moto, work / "moto.log")
            self.endpoint = f"http://127.0.0.1:{port}"
            self.client = boto3.client("s3", endpoint_url=self.endpoint)

    def new(self) -> str:
        self.count += 1
        name = f"place-{self.count}"
        if self.kind == "s3":
            self.client.create_bucket(Bucket=name)
            return f"s3://{name}/?endpoint={self.endpoint}&region=us-east-1"
        (self.work / name).mkdir()
        return f"file://{self.work / name}"

    def fill(self, url: str, count: int, size: int) -> None:
        from opcloud.migrate.stores.registry import open_store

        store = open_store(url)
        data = os.urandom(size)

        def put(number: int) -> None:
            key = f"docs/{number // 1000:05d}/{number:09d}.pdf"
            store.write(key, io.BytesIO(data), size, "application/pdf", {})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(count)))
        store.close()

    def close(self) -> None:
        if self.moto is not None:
            stop(self.moto)


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def bench_copies(places: Places, pg: Cluster, args: argparse.Namespace) -> None:
    from opcloud.migrate.buckets import distributed, engine

    source = places.new()
    places.fill(source, args.objects, args.size)
    options = engine.CopyOptions(state_dir=places.work / "state", transfers=8, progress=False)
    seconds, report = timed(lambda: engine.copy(source, places.new(), options))
    assert report.ok  # type: ignore[attr-defined]
    print(f"single machine (migrate copy): {seconds:.2f} s, {args.objects / seconds:.0f} objects/s")
    base = None
    for workers in args.workers:
        database = f"bench_{workers}_{time.monotonic_ns()}"
        pg.execute(f"CREATE DATABASE {database}")
        sharded = engine.CopyOptions(state_dir=places.work / "unused", transfers=8, progress=False,
                                     state_database=pg.dsn(database))  # fmt: skip
        target = places.new()
        from distributed import LocalCluster  # started before the clock: its start-up is not the copy's

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            started, summary = timed(lambda cluster_started=cluster, o=sharded, t=target: distributed.copy_sharded(
                source, t, o, args.shard_size, scheduler=cluster_started.scheduler_address))  # fmt: skip
            seconds = started
        finally:
            cluster.close()
        assert summary["ok"], summary  # type: ignore[index]
        shards = summary["shards"]  # type: ignore[index]
        base = base or seconds
        per_shard = seconds * workers / shards
        projected = per_shard * (args.project / args.shard_size) / workers / 3600
        print(f"{workers} worker(s): {seconds:.2f} s, {args.objects / seconds:.0f} objects/s, speed-up "
              f"{base / seconds:.2f}, {shards} shards, {per_shard:.2f} worker-s per shard of {args.shard_size} "
              f"-> {args.project:,} objects in ~{projected:.1f} h on {workers} such worker(s)")


def bench_listing(places: Places, args: argparse.Namespace) -> None:
    from opcloud.migrate.buckets.shards import find_shards
    from opcloud.migrate.stores.registry import open_store

    url = places.new()
    places.fill(url, args.keys, 0)
    store = open_store(url)
    try:
        seconds, count = timed(lambda: sum(1 for _ in store.list()))
        print(f"one listing: {count} keys in {seconds:.2f} s")
        seconds, ranges = timed(lambda: find_shards(store, args.shard_size))
        print(f"find_shards: {len(ranges)} ranges in {seconds:.2f} s (the coordinator's bounded counts)")  # type: ignore[arg-type]

        def one(key_range: object) -> int:
            return sum(1 for _ in store.list(start_after=key_range.start_after(), stop_before=key_range.hi))  # type: ignore[attr-defined]

        seconds, total = timed(lambda: sum(one(r) for r in ranges))  # type: ignore[attr-defined]
        print(f"ranges one after another: {total} keys in {seconds:.2f} s")
        with ThreadPoolExecutor(args.list_threads) as pool:
            seconds, total = timed(lambda: sum(pool.map(one, ranges)))  # type: ignore[arg-type]
        print(f"ranges on {args.list_threads} threads: {total} keys in {seconds:.2f} s")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["file", "s3"], default="file")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--workers", type=lambda v: [int(n) for n in v.split(",")], default=[1, 2, 4])
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--list-threads", type=int, default=4)
    parser.add_argument("--project", type=int, default=100_000_000)
    args = parser.parse_args()
    os.environ.update(CREDS)
    with tempfile.TemporaryDirectory(prefix="opcloud-bench-sharded-") as work:
        os.chmod(work, 0o755)
        pg = start_cluster(Path(work) / "pg", "state")
        passfile = Path(work) / "pgpass"
        passfile.write_text(f"127.0.0.1:{pg.port}:*:postgres:{pg.password}\n")
        passfile.chmod(0o600)
        os.environ["PGPASSFILE"] = str(passfile)
        places = Places(args.store, Path(work))
        try:
            bench_copies(places, pg, args)
            bench_listing(places, args)
        finally:
            places.close()
            stop_cluster(pg)


if __name__ == "__main__":
    main()
