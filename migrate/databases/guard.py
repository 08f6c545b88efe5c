"""The cutover's write guard on the source: no other session can write there, whatever it asks.

`default_transaction_read_only` alone is only a default: `BEGIN READ WRITE` or `SET` override it. What holds
on PostgreSQL 13-17 without superuser is to keep other sessions out: CONNECT on the database is revoked from
PUBLIC and from every role that holds it except the migration role, and every other session of the database
is ended (and waited for). The migration role keeps CONNECT (cutover verifies through it) and, with every
superuser, is the only one left able to connect; for those new sessions default to read-only.

Needs: ownership of the source database (or membership of its owner role) and membership of pg_signal_backend
(rds_superuser and azure_pg_admin have both). Superusers' sessions cannot be ended by a non-superuser.
Undone exactly: the grants taken away are given back and the database's own default_transaction_read_only
setting is put back as it was; what was recorded is kept in the state file until then.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from opcloud.errors import CheckFailed

SESSION_EXIT_WAIT = 30.0  # seconds for ended sessions to go away before the guard counts as failed


def plan(conn: psycopg.Connection, dbname: str) -> dict[str, Any]:
    """What the guard will change, recorded before anything is changed."""
    rows = conn.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.is_grantable"
        " FROM pg_database d CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a"
        " WHERE d.datname = %s AND a.privilege_type = 'CONNECT' AND a.grantee <> (SELECT oid FROM pg_roles"
        " WHERE rolname = current_user) ORDER BY 1",
        (dbname,),
    ).fetchall()
    setting = conn.execute(
        "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
        " CROSS JOIN LATERAL unnest(s.setconfig) AS c"
        " WHERE d.datname = %s AND s.setrole = 0 AND c LIKE 'default\\_transaction\\_read\\_only=%%'",
        (dbname,),
    ).fetchone()
    return {
        "database": dbname,
        "connect": [{"grantee": grantee, "grantable": bool(grantable)} for grantee, grantable in rows],
        "read_only_setting": str(setting[0]).partition("=")[2] if setting else None,
        "acl": acl(conn, dbname),
    }


def acl(conn: psycopg.Connection, dbname: str) -> list[str]:
    """The database's effective ACL, one entry per privilege (NULL means the default ACL: made explicit)."""
    rows = conn.execute(
        "SELECT format('%%s %%s %%s %%s', a.grantee, a.privilege_type, a.is_grantable, a.grantor)"
        " FROM pg_database d CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a"
        " WHERE d.datname = %s ORDER BY 1",
        (dbname,),
    ).fetchall()
    return [r[0] for r in rows]


def apply(conn: psycopg.Connection, record: dict[str, Any]) -> int:
    """Keep every other session out and end the ones inside. Returns how many were ended."""
    db = sql.Identifier(record["database"])
    with conn.transaction():
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(db))
        for grant in record["connect"]:
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {} CASCADE").format(db, _role(grant["grantee"])))
    pids = [
        r[0]
        for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'",
            (record["database"],),
        ).fetchall()
    ]
    for pid in pids:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    _wait_gone(conn, pids)
    return len(pids)


def _wait_gone(conn: psycopg.Connection, pids: list[int]) -> None:
    """An ended session may still be committing: only once it is gone has the source stopped writing."""
    deadline = time.monotonic() + SESSION_EXIT_WAIT
    while pids:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()
        if not left or not left[0]:
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"{left[0]} ended session(s) on the source did not exit within {SESSION_EXIT_WAIT:.0f}s")
        time.sleep(0.05)


def undo(conn: psycopg.Connection, record: dict[str, Any]) -> list[str]:
    """Give back exactly what `apply` took. Returns the differences that remain (empty when exact)."""
    with conn.transaction():
        for statement in undo_statements(record):
            conn.execute(statement)
    now = acl(conn, record["database"])
    return sorted(set(now) ^ set(record["acl"]))


def undo_statements(record: dict[str, Any]) -> list[sql.Composed]:
    db = sql.Identifier(record["database"])
    out: list[sql.Composed] = []
    for grant in record["connect"]:
        option = sql.SQL(" WITH GRANT OPTION" if grant["grantable"] else "")
        out.append(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}{}").format(db, _role(grant["grantee"]), option))
    if record["read_only_setting"] is None:
        out.append(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(db))
    else:
        out.append(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                db, sql.Literal(record["read_only_setting"])
            )
        )
    return out


def _role(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "PUBLIC" else sql.Identifier(name)
