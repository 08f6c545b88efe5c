"""One snapshot for the whole copy: exported once, imported by pg_dump, every COPY worker and the verifier.

Offline: a REPEATABLE READ transaction that calls `pg_export_snapshot()` and stays open.
Online: `CREATE_REPLICATION_SLOT ... LOGICAL pgoutput (SNAPSHOT 'export')` on a replication connection, so
the slot starts exactly where the copied data ends. The snapshot lives while that connection stays idle.
"""

from __future__ import annotations

import psycopg
from opcloud.migrate.databases.dsn import DbEndpoint
from psycopg import IsolationLevel

from opcloud.errors import CheckFailed


class Snapshot:
    """Holds the exporting connection open; `close()` releases the snapshot."""

    def __init__(self, conn: psycopg.Connection, name: str) -> None:
        self._conn = conn
        self.name = name

    def close(self) -> None:
        if not self._conn.closed:
            if not self._conn.autocommit:
                self._conn.rollback()
            self._conn.close()


def export(src: DbEndpoint) -> Snapshot:
    conn = src.connect(autocommit=False)
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return Snapshot(conn, str(row[0]))


def export_with_slot(src: DbEndpoint, slot: str) -> Snapshot:
    conn = src.connect(autocommit=True, replication="database")
    try:
        row = conn.execute(f"CREATE_REPLICATION_SLOT \"{slot}\" LOGICAL pgoutput (SNAPSHOT 'export')").fetchone()
    except psycopg.Error as error:
        conn.close()
        raise CheckFailed(f"creating replication slot {slot} failed: {str(error).strip().splitlines()[0]}") from None
    assert row is not None
    return Snapshot(conn, name=str(row[2]))  # row: slot name, consistent point, snapshot name, plugin


def connect_in(src: DbEndpoint, snapshot: str) -> psycopg.Connection:
    """A connection whose open transaction sees exactly the exported snapshot."""
    conn = src.connect(autocommit=False)
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.execute("SET TRANSACTION SNAPSHOT %s" % literal(snapshot))  # noqa: UP031 - no bind params in SET
    for setting in SESSION_SETTINGS:
        conn.execute(setting)
    return conn


# Text output that is the same on every server and session (used by the row hashes too).
SESSION_SETTINGS = (
    "SET timezone = 'UTC'",
    "SET datestyle = 'ISO, YMD'",
    "SET intervalstyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
