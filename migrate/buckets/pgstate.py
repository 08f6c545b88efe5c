"""The state of record of a pair in PostgreSQL, for copies spread over many machines (Dask workers).

The tables are the SQLite state's own (state.SCHEMA), in a PostgreSQL schema named after the pair, with keys in
byte order (COLLATE "C", the order stores list in). A shard pulls the rows of its key range into a private local
SQLite (state.StateDB.over), plans there with the same SQL as a single machine, and writes back in batches, one
transaction each. Multipart uploads in flight are written through at once, so any worker resumes them.

A shard is held under a lease: a session advisory lock (pg_try_advisory_lock) on a connection of its own, which
PostgreSQL drops when the holder's connection dies (a killed worker), so a shard Dask reruns waits for the lease
and is never copied twice at once, and a shard whose holder died is taken over.

The URL names the database and user only: the password comes from libpq's own sources (PGPASSWORD, the
pgpass file), and a URL holding one is refused, so it never reaches a report, a log or a task graph.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg

from opcloud.errors import ConnectionFailed, InputError

# (statement, params) of the batched writes, in the engine's words; see StateDB.
Op = tuple[str, tuple[Any, ...]]

_WRITES = {
    "copied": """INSERT INTO objects AS o VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET
                 size = EXCLUDED.size, src_version = EXCLUDED.src_version, sha256 = EXCLUDED.sha256,
                 dst_version = EXCLUDED.dst_version, verified = EXCLUDED.verified, copied_at = EXCLUDED.copied_at""",
    "verified": "UPDATE objects SET verified = 1 WHERE key = %s",
    "forget": "DELETE FROM objects WHERE key = %s",
    "retag": "UPDATE objects SET src_version = %s WHERE key = %s",
}
_KEEPALIVES = "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3"
_RANGE = "key >= %s AND (%s::text IS NULL OR key < %s)"


def check_url(url: str) -> str:
    """The state URL as given, refused when it is no postgresql:// URL or holds a password."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
        raise InputError("state_database must be postgresql://USER@HOST[:PORT]/DATABASE")
    if parts.password is not None or "password=" in parts.query:
        raise InputError("state_database must not hold a password: use PGPASSWORD or a pgpass file")
    return url


def schema_name(source_url: str, target_url: str) -> str:
    """One PostgreSQL schema per pair, named after the redacted URLs (no secret in them)."""
    return "opcloud_" + hashlib.sha256(f"{source_url}\n{target_url}".encode()).hexdigest()[:16]


def _connect(url: str, autocommit: bool = True) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(check_url(url), autocommit=autocommit, connect_timeout=15)
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConnectionFailed(f"state database {urlsplit(url).hostname}: {first}") from None


class PgRecord:
    """The pair's state of record in PostgreSQL: pulls of a key range, batched writes, uploads, counts."""

    @staticmethod
    def exists(url: str, source_url: str, target_url: str) -> bool:
        """Whether the database holds a state for the pair (a dry run of a pair never copied writes nothing)."""
        with _connect(url) as conn:
            row = conn.execute("SELECT to_regclass(%s)", (f"{schema_name(source_url, target_url)}.objects",)).fetchone()
        return bool(row and row[0])

    def __init__(self, url: str, source_url: str, target_url: str, create: bool = False) -> None:
        self.url = url
        self.schema = schema_name(source_url, target_url)
        self.conn = _connect(url)
        if create:
            self._create(source_url, target_url)
        row = self.conn.execute("SELECT to_regclass(%s)", (f"{self.schema}.objects",)).fetchone()
        if row is None or row[0] is None:
            self.conn.close()
            raise InputError(f"the state database holds no state for this pair (schema {self.schema})")
        self.conn.execute(f"SET search_path TO {self.schema}")

    def _create(self, source_url: str, target_url: str) -> None:
        from opcloud.migrate.buckets.state import SCHEMA

        # SQLite's REAL is 8 bytes, PostgreSQL's 4 (a time stamp would lose minutes); keys in byte order.
        ddl = SCHEMA.replace("key TEXT", 'key TEXT COLLATE "C"').replace(" REAL ", " DOUBLE PRECISION ")
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))  # one creator at once
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            self.conn.execute(f"SET LOCAL search_path TO {self.schema}")
            for statement in filter(str.strip, ddl.split(";")):
                self.conn.execute(statement)  # our own DDL, no input in it
            self.conn.execute(
                "INSERT INTO meta VALUES ('source', %s), ('target', %s) ON CONFLICT DO NOTHING",
                (source_url, target_url),
            )

    def close(self) -> None:
        self.conn.close()

    # -- what a shard pulls into its local SQLite ------------------------------------------------

    def objects(self, lo: str, hi: str | None) -> Iterator[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:  # streamed row by row, never the whole range in memory
            yield from cursor.stream(f"SELECT * FROM objects WHERE {_RANGE}", (lo, hi, hi))

    def uploads(self, lo: str, hi: str | None) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        uploads = self.conn.execute(f"SELECT * FROM uploads WHERE {_RANGE}", (lo, hi, hi)).fetchall()
        parts = self.conn.execute(f"SELECT * FROM parts WHERE {_RANGE}", (lo, hi, hi)).fetchall()
        return uploads, parts

    # -- writes ----------------------------------------------------------------------------------

    def apply(self, ops: Sequence[Op]) -> None:
        """The batched writes of the engine, in order, in one transaction."""
        with self.conn.transaction():
            for name, params in ops:
                self.conn.execute(_WRITES[name], params)

    def begin_upload(self, key: str, upload_id: str, part_size: int, size: int, src_version: str) -> None:
        with self.conn.transaction():
            self.conn.execute("DELETE FROM parts WHERE key = %s", (key,))
            self.conn.execute(
                """INSERT INTO uploads VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET
                   upload_id = EXCLUDED.upload_id, part_size = EXCLUDED.part_size, size = EXCLUDED.size,
                   src_version = EXCLUDED.src_version""",
                (key, upload_id, part_size, size, src_version),
            )

    def record_part(self, key: str, number: int, sha256: str) -> None:
        self.conn.execute(
            "INSERT INTO parts VALUES (%s, %s, %s) ON CONFLICT (key, number) DO UPDATE SET sha256 = EXCLUDED.sha256",
            (key, number, sha256),
        )

    def end_upload(self, key: str) -> None:
        with self.conn.transaction():
            self.conn.execute("DELETE FROM uploads WHERE key = %s", (key,))
            self.conn.execute("DELETE FROM parts WHERE key = %s", (key,))

    def upload_ids(self) -> set[str]:
        return {str(row[0]) for row in self.conn.execute("SELECT upload_id FROM uploads").fetchall()}

    def counts(self) -> dict[str, int]:
        objects, verified, size = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(verified), 0), COALESCE(SUM(size), 0) FROM objects"
        ).fetchone() or (0, 0, 0)
        row = self.conn.execute("SELECT COUNT(*) FROM uploads").fetchone()
        uploads = row[0] if row else 0
        return {"objects": int(objects), "verified": int(verified), "bytes": int(size), "uploadsInFlight": int(uploads)}


    def copied_since(self, stamp: float) -> tuple[int, int]:
        """(objects, bytes) recorded as copied at or after `stamp` (seconds since the epoch, the writers' clocks)."""
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE copied_at >= %s", (stamp,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def bytes_on_disk(self) -> int:
        """The record's tables with their indexes and TOAST, as PostgreSQL stores them."""
        row = self.conn.execute(
            "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r'",
            (self.schema,),
        ).fetchone()
        return int(row[0] or 0) if row else 0


class LeaseTimeout(ConnectionFailed):
    """The shard stayed leased by another holder for longer than we wait."""


class Lease:
    """A shard's lease: a session advisory lock on a connection of its own; released when it closes or dies."""

    def __init__(self, url: str, schema: str, shard: str, wait: float = 600.0, poll: float = 0.5) -> None:
        digest = hashlib.sha256(f"{schema}\n{shard}".encode()).digest()
        self.lock_id: int = struct.unpack(">q", digest[:8])[0]
        self.shard = shard
        self.conn = _connect(url)
        # A holder whose machine dies without closing its connection (power, network) is noticed by the server's
        # keepalives: within about a minute with these, not the two hours of the usual system default.
        self.conn.execute(_KEEPALIVES)
        deadline = time.monotonic() + wait
        try:
            while not self._try():
                if time.monotonic() >= deadline:
                    raise LeaseTimeout(f"shard {shard} is still leased by another worker after {wait:.0f} s")
                time.sleep(poll)
        except BaseException:
            self.conn.close()
            raise

    def _try(self) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,)).fetchone()
        return bool(row and row[0])

    def release(self) -> None:
        self.conn.close()  # closing the session drops its advisory locks

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
