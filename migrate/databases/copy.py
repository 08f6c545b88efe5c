"""Table data: parallel COPY streams from the snapshot to the target, big tables split into ctid ranges.

Each worker thread keeps one source connection inside the exported snapshot and one target connection;
a unit (a table or a range of its pages) is one `COPY ... TO STDOUT` streamed into one `COPY ... FROM
STDIN` and committed on its own. A table is marked done in the state file when all its units are.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import psycopg

from migrate.databases.catalog import Table
from migrate.databases.dsn import DbEndpoint
from migrate.databases.snapshot import SESSION_SETTINGS, connect_in
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
    src: psycopg.Connection | None = None
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
        if local.src is None:
            local.src = connect_in(src, snapshot)
            local.dst = dst.connect(autocommit=False)
            for setting in (*SESSION_SETTINGS, "SET synchronous_commit = off"):
                local.dst.execute(setting)  # type: ignore[arg-type]
            local.dst.commit()
            with lock:
                opened.extend([local.src, local.dst])
        assert local.dst is not None
        on_unit(_copy_one(local.src, local.dst, unit, on_bytes))

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="copy") as pool:
            futures = [pool.submit(run, unit) for unit in units]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                stop.set()
                for future in futures:
                    future.cancel()
                raise failed[0].exception()  # type: ignore[misc]
    finally:
        for conn in opened:
            conn.close()


def _copy_one(
    src: psycopg.Connection, dst: psycopg.Connection, unit: Unit, on_bytes: Callable[[Unit, int], None]
) -> UnitResult:
    started = time.monotonic()
    moved = 0
    buffer = bytearray()
    try:
        with src.cursor() as out_cur, dst.cursor() as in_cur:
            with out_cur.copy(unit.source_sql()) as out, in_cur.copy(unit.target_sql()) as into:  # type: ignore[arg-type]
                # libpq hands out one row at a time: send them on in blocks, fewer calls per byte.
                for chunk in out:
                    buffer += chunk
                    if len(buffer) >= BLOCK:
                        into.write(buffer)
                        on_bytes(unit, len(buffer))
                        moved += len(buffer)
                        buffer = bytearray()
                if buffer:
                    into.write(buffer)
            rows = in_cur.rowcount
        dst.commit()
    except psycopg.Error as error:
        dst.rollback()
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckFailed(f"copying {unit.table.key} failed: {message}") from None
    on_bytes(unit, len(buffer))
    return UnitResult(unit, rows, moved + len(buffer), time.monotonic() - started)
