"""Benchmark: `opcloud migrate db copy` against `pg_dump -Fc | pg_restore` and `pgcopydb clone`.

Same two PostgreSQL 15 clusters for every tool (started here, as the tests do), pgbench data at scale 20
(about 300 MB) plus a jsonb-heavy table; the target database is recreated empty before each run. One run
each, wall-clock seconds and ratios printed. Needs root (clusters run as `postgres`) and, for the third
column, `apt-get install -y pgcopydb`.

    .venv/bin/python -m bench.databases [--scale 20] [--jobs 4] [--json-rows 300000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.servers.postgres import PG_BIN, Cluster, start_cluster, stop_cluster

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    "shared_buffers": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "256MB",
    "max_parallel_maintenance_workers": "2",
}

JSON_TABLE = """
CREATE TABLE tender_docs (id bigint PRIMARY KEY, doc jsonb NOT NULL, created timestamptz NOT NULL);
INSERT INTO tender_docs
SELECT g, jsonb_build_object(
         'id', g, 'title', 'Tender ' || g || ' ' || md5(g::text),
         'buyer', jsonb_build_object('name', 'Buyer ' || (g % 997), 'edrpou', lpad((g % 99999999)::text, 8, '0')),
         'items', jsonb_build_array(
             jsonb_build_object('cpv', '45000000-7', 'qty', g % 17, 'unit', 'pcs', 'desc', repeat('робота ', 8)),
             jsonb_build_object('cpv', '09310000-5', 'qty', g % 5, 'unit', 'kWh', 'desc', md5((g * 7)::text))),
         'value', jsonb_build_object('amount', g * 10.5, 'currency', 'UAH'),
         'status', (ARRAY['active', 'complete', 'cancelled'])[1 + g % 3]),
       timestamptz '2020-01-01' + g * interval '1 minute'
FROM generate_series(1, {rows}) AS g;
CREATE INDEX tender_docs_doc ON tender_docs USING gin (doc jsonb_path_ops);
CREATE INDEX tender_docs_created ON tender_docs (created);
"""


def psql(cluster: Cluster, db: str, sql: str) -> None:
    with cluster.connect(db) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def fresh_target(target: Cluster) -> None:
    psql(target, "postgres", "DROP DATABASE IF EXISTS bench WITH (FORCE)")
    psql(target, "postgres", "CREATE DATABASE bench")


def timed(label: str, argv: list[str] | str, env: dict[str, str], shell: bool = False, show: bool = False) -> float:
    print(f"running {label}...", file=sys.stderr, flush=True)
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, env=env, shell=shell, capture_output=not show, text=True, cwd=REPO)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{label} failed ({result.returncode}): {result.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"  {label}: {seconds:.1f} s, {cpu:.1f} CPU s in the client processes", file=sys.stderr, flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--json-rows", type=int, default=300_000)
    parser.add_argument("--skip-pgcopydb", action="store_true")
    parser.add_argument("--only-ours", action="store_true", help="time only opcloud, printing its progress")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="opcloud-bench-pg-"))
    os.chmod(root, 0o755)
    clusters: list[Cluster] = []
    try:
        source = start_cluster(root / "source", "source", SETTINGS)
        clusters.append(source)
        target = start_cluster(root / "target", "target", SETTINGS)
        clusters.append(target)
        psql(source, "postgres", "CREATE DATABASE bench")
        env = {**os.environ, "PGPASSWORD": source.password}
        print(f"loading pgbench scale {args.scale} and {args.json_rows} jsonb rows...", file=sys.stderr)
        subprocess.run(
            [str(PG_BIN / "pgbench"), "-i", "-q", "-s", str(args.scale), "-h", "127.0.0.1", "-p", str(source.port),
             "-U", "postgres", "bench"], env=env, check=True, capture_output=True,
        )  # fmt: skip
        psql(source, "bench", JSON_TABLE.replace("{rows}", str(args.json_rows)))
        psql(source, "bench", "VACUUM ANALYZE")
        with source.connect("bench") as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size('bench'))").fetchone()[0]  # type: ignore[index]
        print(f"source database: {size}", file=sys.stderr)

        src_url = f"postgresql://postgres@127.0.0.1:{source.port}/bench"
        dst_url = f"postgresql://postgres@127.0.0.1:{target.port}/bench"
        passfile = root / "pgpass"
        passfile.write_text(f"127.0.0.1:*:*:postgres:{source.password}\n")
        passfile.chmod(0o600)
        env = {**os.environ, "PGPASSFILE": str(passfile)}
        results: dict[str, float] = {}

        fresh_target(target)
        results["opcloud migrate db copy"] = timed(
            "opcloud",
            [str(REPO / ".venv/bin/opcloud"), "migrate", "db", "copy", src_url, dst_url, "--jobs", str(args.jobs),
             "--no-verify", "--state-dir", str(root / "state")],
            env, show=args.only_ours,
        )  # fmt: skip
        if args.only_ours:
            print(f"opcloud copy: {results['opcloud migrate db copy']:.1f}s")
            return
        results["opcloud migrate db verify (both sides)"] = timed(
            "verify", [str(REPO / ".venv/bin/opcloud"), "migrate", "db", "verify", src_url, dst_url, "--jobs",
                       str(args.jobs)], env,
        )  # fmt: skip

        fresh_target(target)
        results["pg_dump -Fc | pg_restore"] = timed(
            "pg_dump | pg_restore",
            f"{PG_BIN / 'pg_dump'} -Fc -d '{src_url}' | {PG_BIN / 'pg_restore'} --exit-on-error -d '{dst_url}'",
            env,
            shell=True,
        )

        if not args.skip_pgcopydb and shutil.which("pgcopydb"):
            fresh_target(target)
            with_pw = {
                **env,
                "PGCOPYDB_SOURCE_PGURI": f"postgresql://postgres:{source.password}@127.0.0.1:{source.port}/bench",
                "PGCOPYDB_TARGET_PGURI": f"postgresql://postgres:{target.password}@127.0.0.1:{target.port}/bench",
            }
            results["pgcopydb clone"] = timed(
                "pgcopydb",
                ["pgcopydb", "clone", "--table-jobs", str(args.jobs), "--index-jobs", str(args.jobs),
                 "--dir", str(root / "pgcopydb"), "--no-owner", "--no-acl"],
                with_pw,
            )  # fmt: skip

        ours = results["opcloud migrate db copy"]
        print(f"\nPostgreSQL 15, pgbench scale {args.scale} + {args.json_rows} jsonb rows ({size}), jobs {args.jobs}")
        print(f"{'tool':42} {'seconds':>8} {'vs opcloud':>11}")
        for label, seconds in results.items():
            print(f"{label:42} {seconds:8.1f} {seconds / ours:10.2f}x")
    finally:
        for cluster in reversed(clusters):
            stop_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
