"""Online copy: native logical replication from the copy's slot until cutover, and its cleanup.

The publication is created before the slot (pgoutput looks it up in the slot's history), the slot is
created with the snapshot the copy reads, and after the copy a subscription on the target attaches to
that slot with `create_slot = false, copy_data = false`: nothing is copied twice, nothing is missed.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from opcloud.migrate.databases.catalog import Table
from opcloud.migrate.databases.dsn import DbEndpoint, redact
from psycopg import sql

from opcloud.errors import CheckFailed, InputError
from opcloud.jsonstyle import to_json

OURS = r"^opcloud_[0-9a-f]{12}$"  # the names `names` gives: an online copy's own publication, slot, subscription


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
    return sorted(t.display for t in tables if not t.replicable)


def create_publication(src: psycopg.Connection, name: str) -> None:
    src.execute(sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(name)))


# Keep the one statement that must hold the password out of the target's server log. Each needs superuser
# (or, on PostgreSQL 15+, GRANT SET ON PARAMETER); without it the statement is logged as the server says.
_QUIET = (
    "SET LOCAL log_statement = 'none'",
    "SET LOCAL log_min_duration_statement = -1",
    "SET LOCAL log_min_error_statement = 'panic'",
)


def create_subscription(
    dst: psycopg.Connection, source: DbEndpoint, names: dict[str, str], passfile: str | None = None
) -> bool:
    """The target's apply worker connects to the source by its real address (not through our tunnel).

    PostgreSQL keeps the password in the subscription's connection string (pg_subscription.subconninfo,
    readable by superusers only): there is no other way to give it to a managed server. Where the target
    runs on a machine of ours, `passfile` names a pgpass file there and no password is sent at all. Returns
    whether statement logging could be switched off for the CREATE SUBSCRIPTION (False: it may be logged).
    """
    quiet = True
    with dst.transaction():
        for setting in _QUIET:
            try:
                with dst.transaction():  # a savepoint: a refused SET does not abort the rest
                    dst.execute(setting)
            except psycopg.errors.InsufficientPrivilege:
                quiet = False
        try:
            dst.execute(
                sql.SQL(
                    "CREATE SUBSCRIPTION {sub} CONNECTION {conn} PUBLICATION {pub} "
                    "WITH (create_slot = false, copy_data = false, slot_name = {slot}, enabled = true)"
                ).format(
                    sub=sql.Identifier(names["subscription"]),
                    conn=sql.Literal(source.server_conninfo(passfile)),
                    pub=sql.Identifier(names["publication"]),
                    slot=sql.Literal(names["slot"]),
                )
            )
        except psycopg.Error as error:
            message = redact(str(error).strip().splitlines()[0] if str(error).strip() else "error", source)
            raise CheckFailed(f"creating the subscription on the target failed: {message}") from None
    return quiet


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
        data: dict[str, Any] = to_json(self)
        return data


def lag(src: psycopg.Connection, slot: str, dst: psycopg.Connection, subscription: str) -> Lag:
    row = src.execute(
        "SELECT pg_current_wal_flush_lsn()::text, s.active, s.confirmed_flush_lsn::text,"
        " pg_wal_lsn_diff(pg_current_wal_flush_lsn(), s.confirmed_flush_lsn)::bigint"
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


def _lsn(text: str | None) -> int:
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


MIN_WATCH = 2.0  # seconds the worker is watched even when the lag is already zero


def apply_errors(dst: psycopg.Connection, subscription: str) -> int | None:
    """Errors the subscription's apply worker hit so far (PostgreSQL 15+; None before)."""
    if dst.execute("SELECT to_regclass('pg_catalog.pg_stat_subscription_stats')").fetchone() == (None,):
        return None
    row = dst.execute(
        "SELECT apply_error_count FROM pg_stat_subscription_stats WHERE subname = %s", (subscription,)
    ).fetchone()
    return int(row[0]) if row else None


def check_healthy(src: psycopg.Connection, dst: psycopg.Connection, names: dict[str, str], window: float) -> Lag:
    """Before the source is touched: the subscription is enabled, its worker runs at every look and hits no
    apply error, and it keeps up (the lag is zero, or the confirmed position advances and the lag falls)
    within `window` seconds, watched for at least MIN_WATCH seconds."""
    row = dst.execute(
        "SELECT subenabled FROM pg_subscription WHERE subname = %s"
        " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (names["subscription"],),
    ).fetchone()
    if row is None:
        raise CheckFailed(f"subscription {names['subscription']} does not exist on the target")
    if not row[0]:
        raise CheckFailed(f"subscription {names['subscription']} is disabled on the target")
    errors_before = apply_errors(dst, names["subscription"])
    started = time.monotonic()
    running_since: float | None = None  # a worker that keeps failing never stays up for MIN_WATCH
    first = now = lag(src, names["slot"], dst, names["subscription"])
    while True:
        moment = time.monotonic()
        running_since = (running_since or moment) if now.subscription_running and now.active else None
        errors = apply_errors(dst, names["subscription"])
        if errors is not None and errors_before is not None and errors > errors_before:
            raise CheckFailed(
                f"the apply worker of subscription {names['subscription']} hit {errors - errors_before} error(s) "
                "while watched (the target's server log says why, e.g. a conflicting row)"
            )
        advanced = _lsn(now.confirmed_lsn) > _lsn(first.confirmed_lsn)
        keeping_up = (now.lag_bytes or 0) <= 0 or (advanced and (now.lag_bytes or 0) < (first.lag_bytes or 0))
        if keeping_up and running_since is not None and moment - running_since >= min(MIN_WATCH, window):
            return now
        if moment - started > window:
            if not now.subscription_running or running_since is None:
                raise CheckFailed(
                    f"the apply worker of subscription {names['subscription']} is not running steadily on the "
                    f"target ({_bytes(now.lag_bytes)} behind; the target's server log says why, e.g. a conflicting "
                    "row)"
                )
            raise CheckFailed(
                f"replication is not catching up: {_bytes(first.lag_bytes)} behind, then {_bytes(now.lag_bytes)} "
                f"after {window:.0f}s (confirmed position {'advanced' if advanced else 'did not move'})"
            )
        time.sleep(0.2)
        now = lag(src, names["slot"], dst, names["subscription"])


def _bytes(n: int | None) -> str:
    return f"{n} bytes" if n is not None else "unknown bytes"


def wait_caught_up(src: psycopg.Connection, slot: str, timeout: float) -> None:
    """Wait until the subscriber confirmed everything committed on the source up to now.

    A transaction committed with synchronous_commit=off may still be in the WAL buffers, where the walsender
    cannot see it: one empty transaction of ours committed synchronously flushes the WAL through it first."""
    src.execute("SET synchronous_commit = on")
    with src.transaction():
        src.execute("SELECT txid_current()")  # an xid: the commit writes (and flushes) a commit record
    row = src.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
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
