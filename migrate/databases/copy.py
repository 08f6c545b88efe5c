"""Table data: parallel COPY streams from the snapshot to the target, big tables split into ctid ranges.

A unit (a table or a range of its pages) is one `COPY ... TO STDOUT` inside the exported snapshot, streamed
into one `COPY ... FROM STDIN` on the worker thread's target connection and committed on its own, and only
when the source side ended cleanly. A table is marked done in the state file when all its units are.

The source side runs in `psql`, not in this process: libpq hands COPY data out one row per call, and relaying
two million rows one Python call each costs a core that the target's index builds need. psql relays rows in
C; we move its output into the target in 256 KiB blocks.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import psycopg
from opcloud.migrate.databases.catalog import Table
from opcloud.migrate.databases.dsn import DbEndpoint, redact
from opcloud.migrate.databases.schema import tool
from opcloud.migrate.databases.snapshot import SESSION_SETTINGS, literal

from opcloud.errors import CheckFailed


@dataclass
class Unit:
    table: Table
    index: int
    count: int
    first_page: int | None = None
    end_page: int | None = None  # exclusive; None = to the end of the table

    def source_sql(self) -> str:
        fmt = "(FORMAT binary)" if self.table.binary else ""
        if self.count == 1:
            return f"COPY {self.table.qualified} ({self.table.column_list}) TO STDOUT {fmt}"
        where = []
        if self.first_page is not None:
            where.append(f"ctid >= '({self.first_page},0)'::tid")
        if self.end_page is not None:
            where.append(f"ctid < '({self.end_page},0)'::tid")
        select = f"SELECT {self.table.column_list} FROM ONLY {self.table.qualified} WHERE {' AND '.join(where)}"
        return f"COPY ({select}) TO STDOUT {fmt}"

    def target_sql(self) -> str:
        fmt = "(FORMAT binary)" if self.table.binary else ""
        return f"COPY {self.table.qualified} ({self.table.column_list}) FROM STDIN {fmt}"


SPLIT_BYTES = 128 << 20
BLOCK = 256 << 10


def plan_units(table: Table, split_rows: int, jobs: int) -> list[Unit]:
    """Split big tables by page ranges (ctid scans, fast since PostgreSQL 14) so all jobs stay busy."""
    if (table.rows_estimate <= split_rows and table.size_bytes <= SPLIT_BYTES) or table.pages < 2 * jobs:
        return [Unit(table, 0, 1)]
    count = max(math.ceil(table.rows_estimate / split_rows), math.ceil(table.size_bytes / SPLIT_BYTES), jobs)
    step = math.ceil(table.pages / min(count, table.pages, 256))
    bounds = list(range(0, table.pages, step))
    units = []
    for i, start in enumerate(bounds):
        first = None if i == 0 else start
        end = None if i == len(bounds) - 1 else bounds[i + 1]
        units.append(Unit(table, i, len(bounds), first, end))
    return units


@dataclass
class UnitResult:
    unit: Unit
    rows: int
    bytes: int
    seconds: float


class _Workers(threading.local):
    dst: psycopg.Connection | None = None


def copy_units(
    src: DbEndpoint,
    dst: DbEndpoint,
    snapshot: str,
    units: list[Unit],
    jobs: int,
    on_bytes: Callable[[Unit, int], None],
    on_unit: Callable[[UnitResult], None],
) -> None:
    """Run all units on `jobs` threads; the first failure stops the rest and is raised."""
    local = _Workers()
    opened: list[psycopg.Connection] = []
    lock = threading.Lock()
    stop = threading.Event()

    def run(unit: Unit) -> None:
        if stop.is_set():
            return
        if local.dst is None:
            local.dst = dst.connect(autocommit=False)
            for setting in (*SESSION_SETTINGS, "SET synchronous_commit = off"):
                local.dst.execute(setting)
            local.dst.commit()
            with lock:
                opened.append(local.dst)
        on_unit(_copy_one(src, snapshot, local.dst, unit, on_bytes))

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="copy") as pool:
            futures = [pool.submit(run, unit) for unit in units]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                stop.set()
                for future in futures:
                    future.cancel()
                failed[0].result()  # raises the first failure's exception
    finally:
        for conn in opened:
            conn.close()


def _source_argv(src: DbEndpoint, snapshot: str, unit: Unit) -> list[str]:
    """psql running the unit's COPY TO STDOUT inside the snapshot; -q keeps command tags out of the data."""
    statements = [
        *SESSION_SETTINGS,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        f"SET TRANSACTION SNAPSHOT {literal(snapshot)}",
        unit.source_sql(),
    ]
    argv = [tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", src.conninfo()]
    for statement in statements:
        argv += ["-c", statement]
    return argv


def _copy_one(
    src: DbEndpoint, snapshot: str, dst: psycopg.Connection, unit: Unit, on_bytes: Callable[[Unit, int], None]
) -> UnitResult:
    started = time.monotonic()
    moved = 0
    source = subprocess.Popen(
        _source_argv(src, snapshot, unit),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=src.subprocess_env(),
    )
    assert source.stdout is not None and source.stderr is not None
    try:
        with dst.cursor() as in_cur:
            with in_cur.copy(unit.target_sql()) as into:
                while block := source.stdout.read(BLOCK):
                    into.write(block)
                    on_bytes(unit, len(block))
                    moved += len(block)
                problem = source.stderr.read().decode(errors="replace").strip()
                if source.wait() != 0:
                    # Raised inside the COPY block: psycopg ends it with CopyFail, so no partial rows commit.
                    raise _SourceFailed(redact(problem, src) or f"psql exited with {source.returncode}")
            rows = in_cur.rowcount
        dst.commit()
    except (psycopg.Error, _SourceFailed) as error:
        dst.rollback()
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckFailed(f"copying {unit.table.display} failed: {message}") from None
    finally:
        if source.poll() is None:
            source.kill()
            source.wait()
        source.stdout.close()
        source.stderr.close()
    return UnitResult(unit, rows, moved, time.monotonic() - started)


class _SourceFailed(Exception):
    """The source side of a unit (psql) failed: the target's COPY is abandoned."""
