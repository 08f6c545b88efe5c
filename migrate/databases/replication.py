"""Online copy: native logical replication from the copy's slot until cutover, and its cleanup.

The publication is created before the slot (pgoutput looks it up in the slot's history), the slot is
created with the snapshot the copy reads, and after the copy a subscription on the target attaches to
that slot with `create_slot = false, copy_data = false`: nothing is copied twice, nothing is missed.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from migrate.databases.catalog import Table
from migrate.databases.dsn import DbEndpoint
from opcloud.errors import CheckFailed, InputError


def names(state_id: str) -> dict[str, str]:
    name = f"opcloud_{state_id}"
    return {"publication": name, "slot": name, "subscription": name}


def check_logical(src: psycopg.Connection) -> None:
    row = src.execute("SHOW wal_level").fetchone()
    level = row[0] if row else "?"
    if level != "logical":
        raise InputError(
            f"online copy needs wal_level=logical on the source (it is {level}): set it (RDS: "
            "rds.logical_replication=1, Azure: wal_level=logical) and restart the server"
        )


def unreplicable(tables: list[Table]) -> list[str]:
    """Tables whose updates and deletes logical replication cannot carry (no primary key, no identity)."""
    return sorted(t.key for t in tables if not t.replicable)


def create_publication(src: psycopg.Connection, name: str) -> None:
    src.execute(sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(name)))


def create_subscription(dst: psycopg.Connection, source: DbEndpoint, names: dict[str, str]) -> None:
    """The target's apply worker connects to the source by its real address (not through our tunnel)."""
    dst.execute(
        sql.SQL(
            "CREATE SUBSCRIPTION {sub} CONNECTION {conn} PUBLICATION {pub} "
            "WITH (create_slot = false, copy_data = false, slot_name = {slot}, enabled = true)"
        ).format(
            sub=sql.Identifier(names["subscription"]),
            conn=sql.Literal(source.server_conninfo()),
            pub=sql.Identifier(names["publication"]),
            slot=sql.Literal(names["slot"]),
        )
    )


@dataclass
class Lag:
    slot: str
    active: bool
    lag_bytes: int | None
    source_lsn: str
    confirmed_lsn: str | None
    subscription_running: bool | None = None
    last_message_age_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def lag(src: psycopg.Connection, slot: str, dst: psycopg.Connection, subscription: str) -> Lag:
    row = src.execute(
        "SELECT pg_current_wal_lsn()::text, s.active, s.confirmed_flush_lsn::text,"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint"
        " FROM pg_replication_slots s WHERE s.slot_name = %s",
        (slot,),
    ).fetchone()
    if row is None:
        raise CheckFailed(f"replication slot {slot} does not exist on the source")
    result = Lag(slot=slot, source_lsn=row[0], active=bool(row[1]), confirmed_lsn=row[2], lag_bytes=row[3])
    sub = dst.execute(
        "SELECT pid IS NOT NULL, extract(epoch FROM now() - last_msg_receipt_time)::float8"
        " FROM pg_stat_subscription WHERE subname = %s AND relid IS NULL",
        (subscription,),
    ).fetchone()
    if sub is not None:
        result.subscription_running, result.last_message_age_s = bool(sub[0]), sub[1]
    return result


def set_read_only(src: psycopg.Connection, dbname: str) -> int:
    """New sessions read-only; current client sessions of the database terminated. Returns how many."""
    src.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(sql.Identifier(dbname)))
    row = src.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        (dbname,),
    ).fetchone()
    return int(row[0]) if row else 0


def wait_caught_up(src: psycopg.Connection, slot: str, timeout: float) -> None:
    """Wait until the subscriber confirmed everything the source wrote up to now."""
    row = src.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    goal = row[0]
    deadline = time.monotonic() + timeout
    while True:
        row = src.execute(
            "SELECT pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn)::bigint FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (goal, slot),
        ).fetchone()
        if row is None:
            raise CheckFailed(f"replication slot {slot} disappeared from the source")
        remaining = int(row[0] or 0)
        if remaining <= 0:
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"the target did not catch up within {timeout:.0f}s ({remaining} bytes behind)")
        time.sleep(0.2)


def cleanup(src: psycopg.Connection, dst: psycopg.Connection, names: dict[str, str]) -> list[str]:
    """Drop subscription, slot and publication; idempotent. Returns what was dropped."""
    dropped = []
    if dst.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", (names["subscription"],)).fetchone():
        sub = sql.Identifier(names["subscription"])
        dst.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sub))
        # Detach from the slot: we drop it ourselves, which also works when the target cannot reach the source.
        dst.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(sub))
        dst.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sub))
        dropped.append(f"subscription {names['subscription']} (target)")
    for _ in range(50):
        row = src.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (names["slot"],)
        ).fetchone()
        if row is None:
            break
        if row[0] is not None:
            # The walsender of the disabled subscription may take a moment to exit.
            with contextlib.suppress(psycopg.Error):
                src.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            time.sleep(0.1)
            continue
        src.execute("SELECT pg_drop_replication_slot(%s)", (names["slot"],))
        dropped.append(f"replication slot {names['slot']} (source)")
        break
    else:
        raise CheckFailed(f"replication slot {names['slot']} stays active on the source: drop it by hand")
    if src.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (names["publication"],)).fetchone():
        src.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(names["publication"])))
        dropped.append(f"publication {names['publication']} (source)")
    return dropped
