"""One run per target database at a time, enforced by the target server itself.

A session-level advisory lock in the target database, taken before the state file is even read and held
by its own connection for the life of the run (copy, cutover, abort). Another run, from this machine or any
other, does not get it and stops before touching anything. The lock goes with the session: a run that
dies (kill -9, lost network) releases it, though its server process may take a moment to notice, so a run
waits a few seconds for the lock before it gives up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from opcloud.migrate.databases.dsn import DbEndpoint

from opcloud.errors import CheckFailed

# pg_try_advisory_lock(int4, int4): a class id of our own ("opcl") keeps clear of the applications' keys.
LOCK_CLASS = 0x6F70636C
LOCK_ID = 1
APPLICATION = "opcloud-migrate-db lock"
# Long enough for the server to end the session of a run just killed, short enough to report a live one soon.
WAIT = "5s"


@contextmanager
def run_lock(dst: DbEndpoint) -> Iterator[None]:
    conn = dst.connect()
    try:
        conn.execute("SELECT set_config('application_name', %s, false)", (APPLICATION,))
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (WAIT,))
        try:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_ID))
        except psycopg.errors.LockNotAvailable:
            raise CheckFailed(
                f"another `opcloud migrate db` run is working on {dst.display} ({_holder(conn)}): nothing was "
                "done; wait for it to finish, or end that session on the target if it is stale"
            ) from None
        conn.execute("SELECT set_config('lock_timeout', '0', false)")
        yield
    finally:
        conn.close()


def _holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT a.pid, coalesce(host(a.client_addr), 'local socket'), a.backend_start::timestamp(0)::text"
        " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND l.objsubid = 2 AND l.granted"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LOCK_CLASS, LOCK_ID),
    ).fetchone()
    if row is None:
        return "holder unknown"
    return f"server pid {row[0]}, from {row[1]}, since {row[2]} UTC"
