"""Large objects: contents copied under the copy's snapshot, resumable by OID, and hashed for verification.

pg_dump's pre-data section creates every large object (same OID) with its owner, grants and comment, but
empty: the contents belong to its data section, which we do not restore. We copy them ourselves in OID
order through the server-side functions lo_get/lo_put, a batch per target transaction, recording the last
OID done so that a rerun continues. No superuser needed: the migration role needs SELECT on the source's
large objects and UPDATE on the target's (their owner, or a member of it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from opcloud.migrate.databases.dsn import DbEndpoint
from opcloud.migrate.databases.snapshot import connect_in

from opcloud.errors import CheckFailed

CHUNK = 1 << 20  # bytes per lo_get/lo_put call, and per hashed piece
BATCH_BYTES = 64 << 20  # commit on the target (and record progress) after about this much
BATCH_OBJECTS = 500
INV_WRITE = 0x20000


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    return int(row[0]) if row else 0


def _oids(conn: psycopg.Connection, after: int = 0) -> list[int]:
    rows = conn.execute(
        "SELECT oid::int8 FROM pg_largeobject_metadata WHERE oid::int8 > %s ORDER BY oid::int8", (after,)
    ).fetchall()
    return [int(r[0]) for r in rows]


@dataclass
class CopiedObjects:
    objects: int = 0
    bytes: int = 0
    removed: int = 0  # on the target but not on the source


def copy(src: DbEndpoint, dst: DbEndpoint, snapshot: str, after: int, on_batch: Callable[[int], None]) -> CopiedObjects:
    """Copy the contents of every large object with an OID above `after`; `on_batch(last_oid)` after commits."""
    result = CopiedObjects()
    with connect_in(src, snapshot) as source, dst.connect(autocommit=False) as target:
        todo = _oids(source, after)
        batch_bytes = batch_objects = 0
        for oid in todo:
            try:
                target.execute("SELECT lo_truncate64(lo_open(%s::oid, %s::int4), 0)", (oid, INV_WRITE))
                offset = 0
                while True:
                    row = source.execute("SELECT lo_get(%s::oid, %s::int8, %s::int4)", (oid, offset, CHUNK)).fetchone()
                    chunk = bytes(row[0]) if row and row[0] is not None else b""
                    if chunk:
                        target.execute("SELECT lo_put(%s::oid, %s::int8, %s::bytea)", (oid, offset, chunk))
                    offset += len(chunk)
                    if len(chunk) < CHUNK:
                        break
            except psycopg.Error as error:
                raise CheckFailed(f"copying large object {oid} failed: {_first_line(error)}") from None
            result.objects += 1
            result.bytes += offset
            batch_bytes += offset
            batch_objects += 1
            if batch_bytes >= BATCH_BYTES or batch_objects >= BATCH_OBJECTS:
                target.commit()
                on_batch(oid)
                batch_bytes = batch_objects = 0
        target.commit()
        if todo:
            on_batch(todo[-1])
        # The target had exactly the source's objects after pre-data; any other one is not the source's.
        extra = sorted(set(_oids(target)) - set(_oids(source)))
        for oid in extra:
            target.execute("SELECT lo_unlink(%s::oid)", (oid,))
        target.commit()
        result.removed = len(extra)
    return result


def hashes(conn: psycopg.Connection) -> dict[int, tuple[int, str]]:
    """OID -> (size, SHA-256 over the MD5 of each 1 MiB piece), the pieces hashed on the server."""
    out: dict[int, tuple[int, str]] = {}
    rows = conn.execute(
        "SELECT m.oid::int8, md5(c), length(c) FROM pg_largeobject_metadata m"
        " CROSS JOIN LATERAL lo_get(m.oid, 0, %s::int4) AS c ORDER BY m.oid::int8",
        (CHUNK,),
    ).fetchall()
    for oid, first_md5, first_len in rows:
        digest = hashlib.sha256(first_md5.encode())
        size = int(first_len)
        piece_len = int(first_len)
        while piece_len == CHUNK:
            row = conn.execute(
                "SELECT md5(c), length(c) FROM lo_get(%s::oid, %s::int8, %s::int4) AS c", (oid, size, CHUNK)
            ).fetchone()
            assert row is not None
            piece_len = int(row[1])
            if piece_len:
                digest.update(row[0].encode())
            size += piece_len
        out[int(oid)] = (size, digest.hexdigest())
    return out


def compare(source: dict[int, tuple[int, str]], target: dict[int, tuple[int, str]]) -> list[str]:
    problems = []
    for oid in sorted(source.keys() | target.keys()):
        if oid not in target:
            problems.append(f"large object {oid} missing on the target")
        elif oid not in source:
            problems.append(f"large object {oid} only on the target")
        elif source[oid][0] != target[oid][0]:
            problems.append(f"large object {oid}: {source[oid][0]} bytes on the source, {target[oid][0]} on the target")
        elif source[oid][1] != target[oid][1]:
            problems.append(f"large object {oid}: same size ({source[oid][0]} bytes) but the contents differ")
    return problems


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
