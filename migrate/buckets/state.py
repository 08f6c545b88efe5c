"""The SQLite state of one source -> target pair: what was copied (with our SHA-256), uploads in flight.

Listings go into a temporary attached database (spilled to disk by SQLite, never all in memory) and are
diffed against the state with SQL, so a million objects cost disk pages, not Python objects. The state file
is named after the redacted URLs, holds no secret, and survives a kill -9 (WAL journal).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opcloud.migrate.buckets.keyrange import KeyRange
from opcloud.migrate.stores.base import ObjectInfo
from opcloud.migrate.stores.keys import KeyRules

from opcloud.errors import InputError

if TYPE_CHECKING:
    from opcloud.migrate.buckets.pgstate import Op, PgRecord

# Also the PostgreSQL state of record's (pgstate.py), keys there in byte order.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, src_version TEXT NOT NULL, sha256 TEXT NOT NULL,
    dst_version TEXT NOT NULL, verified INTEGER NOT NULL DEFAULT 0, copied_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY, upload_id TEXT NOT NULL, part_size INTEGER NOT NULL, size INTEGER NOT NULL,
    src_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (  -- sha256: of the object's bytes from its start to the end of this part
    key TEXT NOT NULL, number INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (key, number)
);
"""
# tag: what change detection compares (the version, plus the listing's `modified` stamp where it has one);
# name: the name the target would store the key under (encoded, folded as the target folds), for collisions.
# The listings are tables WITHOUT ROWID: one b-tree by key, not a table and an index to fill and to join through.
_WORK = """
CREATE TABLE work.src (key TEXT PRIMARY KEY, size INTEGER NOT NULL, version TEXT NOT NULL, tag TEXT NOT NULL,
                       name TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE work.dst (key TEXT PRIMARY KEY, size INTEGER NOT NULL, version TEXT NOT NULL, tag TEXT NOT NULL,
                       name TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE work.refused (key TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE work.todo (id INTEGER PRIMARY KEY, key TEXT NOT NULL, size INTEGER NOT NULL, version TEXT NOT NULL,
                        tag TEXT NOT NULL, action TEXT NOT NULL);
"""
_BATCH = 1000
# Records of copied/verified objects are written in batches, one transaction each (a row per object costs a few
# hundred bytes, not a page per commit). An object written but not yet recorded when a run dies has no row: the
# next run copies it again. Uploads in flight are written at once (any run, any worker, must find them). A batch
# is also closed after WRITE_INTERVAL seconds, so slow (large) objects are never many to copy again.
WRITE_BATCH = 256
WRITE_INTERVAL = 2.0
# A row recorded before change tags carried the listing's `modified` stamp: its tag is the bare version. Such an
# object is not recopied on upgrade; its properties are compared by HEAD once ('retag') and the tag renewed.
LEGACY_TAG = "(o.src_version = s.version AND s.tag != s.version)"


@dataclass(frozen=True)
class Todo:
    key: str
    size: int
    version: str
    action: str  # "copy" | "verify" | "delete" | "check" (compare properties: --check-metadata)
    tag: str = ""  # the change tag recorded in the state (see _WORK)


@dataclass(frozen=True)
class UploadRecord:
    upload_id: str
    part_size: int
    size: int
    src_version: str
    parts: dict[int, str]


Row = tuple[str, int, str, str]  # a listed object as the state loads it: key, size, version, change tag


def change_tag(info: ObjectInfo) -> str:
    """What change detection compares for a listed object (see _WORK)."""
    return f"{info.version}@{info.modified}" if info.modified else info.version


def state_path(state_dir: Path, source_url: str, target_url: str) -> Path:
    """The pair's state file, named so a person can tell which pair it is (`buckets-<source>--<target>-<hash>`);
    a state an earlier version named by the hash alone keeps its name."""
    digest = hashlib.sha256(f"{source_url}\n{target_url}".encode()).hexdigest()
    legacy = state_dir / f"buckets-{digest[:16]}.sqlite"
    if legacy.exists():
        return legacy
    return state_dir / f"buckets-{_slug(source_url)}--{_slug(target_url)}-{digest[:12]}.sqlite"


def _slug(url: str) -> str:
    """`s3://prozorro-docs/tenders/?region=eu-central-1` -> `s3-prozorro-docs-tenders` (at most 40 characters)."""
    without_query = url.split("?", 1)[0]
    return re.sub(r"[^A-Za-z0-9]+", "-", without_query).strip("-")[:40].strip("-") or "store"


class StateDB:
    """One connection shared by the worker threads behind a lock (SQLite writes are serial anyway).

    On one machine the SQLite file is the state of record. Over a PostgreSQL record (`over`), the SQLite is
    private and temporary: it holds the slice of the record a run pulled (its key range) and every write goes
    to both, the record's in batches. The engine sees the same methods either way."""

    record: PgRecord | None = None
    _pending: list[Op]
    _in_batch = False
    _writes = 0
    _batch_started = 0.0

    def __init__(self, path: Path, source_url: str, target_url: str, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._pending = []
        self._lockfile = None
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lockfile = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 - held for the run
            try:
                fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"another run is using the state {path}") from None
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        if not readonly:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self.db.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)", [("source", source_url), ("target", target_url)]
            )
        self.db.execute("ATTACH DATABASE '' AS work")  # private temporary database, spills to disk
        self.db.execute("PRAGMA work.journal_mode=OFF")
        self.db.executescript(_WORK)

    @classmethod
    def empty(cls) -> StateDB:
        """A throwaway state for verify runs without a state file."""
        instance = cls.__new__(cls)
        instance.path = Path(":memory:")
        instance._lock = threading.RLock()
        instance._pending = []
        instance._lockfile = None
        instance.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        instance.db.executescript(SCHEMA)
        instance.db.execute("ATTACH DATABASE '' AS work")
        instance.db.executescript(_WORK)
        return instance

    @classmethod
    def over(cls, record: PgRecord, key_range: KeyRange) -> StateDB:
        """A run's state over a PostgreSQL record: the rows of `key_range` pulled into a private SQLite (on disk
        when large), so planning is the same SQL as on one machine."""
        instance = cls.__new__(cls)
        instance.path = Path(":record:")
        instance._lock = threading.RLock()
        instance._pending = []
        instance._lockfile = None
        instance.db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        instance.db.execute("PRAGMA journal_mode=OFF")
        instance.db.executescript(SCHEMA)
        instance.db.execute("ATTACH DATABASE '' AS work")
        instance.db.execute("PRAGMA work.journal_mode=OFF")
        instance.db.executescript(_WORK)
        rows = record.objects(key_range.lo, key_range.hi)
        instance.db.execute("BEGIN")
        instance.db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        uploads, parts = record.uploads(key_range.lo, key_range.hi)
        instance.db.executemany("INSERT INTO uploads VALUES (?, ?, ?, ?, ?)", uploads)
        instance.db.executemany("INSERT INTO parts VALUES (?, ?, ?)", parts)
        instance.db.execute("COMMIT")
        instance.record = record
        return instance

    def flush(self) -> None:
        """Commit the batch of records written so far (to the SQLite file, or to the PostgreSQL record)."""
        with self._lock:
            if self._in_batch:
                self.db.execute("COMMIT")
                self._in_batch = False
            if self.record is not None and self._pending:
                self.record.apply(self._pending)
                self._pending = []
            self._writes = 0

    def _batched(self, op: str, statement: str, params: tuple[object, ...], pg_params: tuple[object, ...]) -> None:
        with self._lock:
            if self.record is None and not self._in_batch:
                self.db.execute("BEGIN")  # reads on this connection see the batch before it commits
                self._in_batch = True
            self.db.execute(statement, params)
            if self.record is not None:
                self._pending.append((op, pg_params))
            if not self._writes:
                self._batch_started = time.monotonic()
            self._writes += 1
            if self._writes >= WRITE_BATCH or time.monotonic() - self._batch_started >= WRITE_INTERVAL:
                self.flush()

    def close(self) -> None:
        with self._lock:
            try:
                self.flush()  # a no-op for a read-only state: it never writes
            finally:
                self.db.close()
                if self.record is not None:
                    self.record.close()
        if self._lockfile is not None:
            self._lockfile.close()

    # -- listings --------------------------------------------------------------------------------

    def load_listing(
        self, table: str, infos: Iterable[ObjectInfo], target_keys: KeyRules | None = None
    ) -> tuple[int, int]:
        """Stream a listing into work.src / work.dst in batches; returns (count, bytes). With `target_keys` (the
        source listing), keys the target cannot hold are recorded in work.refused with the reason."""
        rows = ((info.key, info.size, info.version, change_tag(info)) for info in infos)
        return self.load_rows(table, rows, target_keys)

    def load_rows(
        self, table: str, rows: Iterable[Row], target_keys: KeyRules | None = None
    ) -> tuple[int, int]:
        """load_listing of (key, size, version, change tag) rows: as a tree lists them (TreeStore.rows)."""
        assert table in ("src", "dst")
        count = size = 0
        batch: list[tuple[str, int, str, str, str]] = []
        refused: list[tuple[str, str]] = []
        with self._lock:
            self.db.execute(f"DELETE FROM work.{table}")
            if target_keys is not None:
                self.db.execute("DELETE FROM work.refused")
        renames = target_keys is not None and target_keys.renames
        for key, length, version, tag in rows:
            name = key
            if target_keys is not None:
                problem = target_keys.problem(key)
                if problem is not None:
                    refused.append((key, problem))
                if renames:
                    name = target_keys.collision_key(key)
            batch.append((key, length, version, tag, name))
            count += 1
            size += length
            if len(batch) >= _BATCH:
                self._insert(table, batch, refused)
                batch, refused = [], []
        self._insert(table, batch, refused)
        return count, size

    def load_listing_file(self, table: str, path: Path) -> tuple[int, int]:
        """A listing another process wrote into a SQLite file (forklisting.py) into work.src / work.dst, in one
        statement; returns (count, bytes)."""
        assert table in ("src", "dst")
        with self._lock:
            self.flush()
            self.db.execute(f"DELETE FROM work.{table}")
            self.db.execute("ATTACH DATABASE ? AS listing", (str(path),))
            try:
                self.db.execute("BEGIN")
                self.db.execute(f"INSERT OR REPLACE INTO work.{table} SELECT * FROM listing.listing")
                self.db.execute("COMMIT")
                count, size = self.db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM listing.listing").fetchone()
            finally:
                self.db.execute("DETACH DATABASE listing")
        return int(count), int(size)

    def _insert(self, table: str, rows: list[tuple[str, int, str, str, str]], refused: list[tuple[str, str]]) -> None:
        if rows:
            with self._lock:
                self.flush()
                self.db.execute("BEGIN")
                self.db.executemany(f"INSERT OR REPLACE INTO work.{table} VALUES (?, ?, ?, ?, ?)", rows)
                self.db.executemany("INSERT OR REPLACE INTO work.refused VALUES (?, ?)", refused)
                self.db.execute("COMMIT")

    def refuse_collisions(self, file_tree: bool, renamed: bool = True) -> None:
        """Refuse every source key that would land on the same target name as another (after encoding and the
        target's folding: only where the target `renamed` keys), and on a file tree every key that is also a folder
        of another (`a` and `a/b`)."""
        if not (renamed or file_tree):
            return  # each name is its key, and keys are distinct
        with self._lock:
            self.db.execute("CREATE INDEX IF NOT EXISTS work.src_name ON src (name)")
            if renamed:
                self.db.execute(
                    """INSERT OR IGNORE INTO work.refused
                       SELECT s.key, 'would be stored under the same name as ' || (
                           SELECT MIN(o.key) FROM work.src o WHERE o.name = s.name AND o.key != s.key)
                       FROM work.src s
                       WHERE EXISTS (SELECT 1 FROM work.src o WHERE o.name = s.name AND o.key != s.key)"""
                )
            if file_tree:  # names in [name + '/', name + '0') are exactly those under name + '/'
                inside = "o.name >= s.name || '/' AND o.name < s.name || '0'"
                self.db.execute(
                    f"""INSERT OR IGNORE INTO work.refused
                       SELECT s.key, 'a file here, but a folder for ' || (
                           SELECT MIN(o.key) FROM work.src o WHERE {inside})
                       FROM work.src s WHERE EXISTS (SELECT 1 FROM work.src o WHERE {inside})"""
                )
                self.db.execute(
                    f"""INSERT OR IGNORE INTO work.refused
                       SELECT o.key, 'inside ' || s.key || ', which is a file' FROM work.src s JOIN work.src o
                       ON {inside}"""
                )

    def refused(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(str(k), str(r)) for k, r in self.db.execute("SELECT key, reason FROM work.refused ORDER BY key")]

    def plan(self, delete_extra: bool, check_metadata: bool = False) -> dict[str, tuple[int, int]]:
        """Fill work.todo from the listings and the state; returns {action: (count, bytes)}. Refused keys get
        nothing; with `check_metadata`, objects the listings show unchanged get a 'check' of their properties."""
        with self._lock:
            self.db.execute("DELETE FROM work.todo")
            self.db.execute(
                f"""INSERT INTO work.todo (key, size, version, tag, action)
                   SELECT s.key, s.size, s.version, s.tag,
                          CASE WHEN o.key IS NULL OR o.size != s.size
                                    OR (o.src_version != s.tag AND NOT ({LEGACY_TAG} AND o.verified = 1))
                                    OR d.key IS NULL OR d.size != s.size OR d.version != o.dst_version
                               THEN 'copy' WHEN o.src_version != s.tag THEN 'retag'
                               WHEN o.verified = 0 THEN 'verify' ELSE 'check' END
                   FROM work.src s
                   LEFT JOIN objects o ON o.key = s.key
                   LEFT JOIN work.dst d ON d.key = s.key
                   WHERE s.key NOT IN (SELECT key FROM work.refused) AND (
                      o.key IS NULL OR o.size != s.size OR o.src_version != s.tag
                      OR d.key IS NULL OR d.size != s.size OR d.version != o.dst_version OR o.verified = 0
                      OR {int(check_metadata)})
                   ORDER BY s.key"""
            )
            if delete_extra:
                self.db.execute(
                    """INSERT INTO work.todo (key, size, version, tag, action)
                       SELECT d.key, d.size, d.version, d.tag, 'delete' FROM work.dst d
                       WHERE NOT EXISTS (SELECT 1 FROM work.src s WHERE s.key = d.key) ORDER BY d.key"""
                )
            rows = self.db.execute("SELECT action, COUNT(*), COALESCE(SUM(size), 0) FROM work.todo GROUP BY action")
            return {action: (count, size) for action, count, size in rows}

    def todo(self) -> Iterator[Todo]:
        """The planned work, paged so that the cursor never holds the lock for long."""
        last = 0
        while True:
            with self._lock:
                rows = self.db.execute(
                    "SELECT id, key, size, version, action, tag FROM work.todo WHERE id > ? ORDER BY id LIMIT ?",
                    (last, _BATCH),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield Todo(row[1], row[2], row[3], row[4], row[5])
            last = rows[-1][0]

    def extra_count(self) -> int:
        with self._lock:
            row = self.db.execute(
                "SELECT COUNT(*) FROM work.dst d WHERE NOT EXISTS (SELECT 1 FROM work.src s WHERE s.key = d.key)"
            ).fetchone()
        return int(row[0])

    def pairs(self) -> Iterator[tuple[str, int, str, int | None, str]]:
        """(key, source size, source version, target size or None, source tag) for every listed source object."""
        last = ""
        while True:
            with self._lock:
                rows = self.db.execute(
                    """SELECT s.key, s.size, s.version, d.size, s.tag FROM work.src s
                       LEFT JOIN work.dst d ON d.key = s.key
                       WHERE s.key > ? ORDER BY s.key LIMIT ?""",
                    (last, _BATCH),
                ).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    # -- objects ---------------------------------------------------------------------------------

    def known_sha(self, key: str, size: int, src_version: str) -> str | None:
        with self._lock:
            row = self.db.execute(
                "SELECT sha256 FROM objects WHERE key = ? AND size = ? AND src_version = ?", (key, size, src_version)
            ).fetchone()
        return str(row[0]) if row else None

    def record_copied(
        self, key: str, size: int, src_version: str, sha256: str, dst_version: str, verified: bool = False
    ) -> None:
        row = (key, size, src_version, sha256, dst_version, int(verified), time.time())
        self._batched("copied", "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)", row, row)

    def stale_uploads(self) -> list[tuple[str, str]]:
        """(key, upload id) of uploads in flight whose source object is gone or changed since they began."""
        with self._lock:
            rows = self.db.execute(
                """SELECT u.key, u.upload_id FROM uploads u LEFT JOIN work.src s ON s.key = u.key
                   WHERE s.key IS NULL OR s.size != u.size OR s.version != u.src_version ORDER BY u.key"""
            ).fetchall()
        return [(str(k), str(u)) for k, u in rows]

    def upload_ids(self) -> set[str]:
        with self._lock:
            return {str(row[0]) for row in self.db.execute("SELECT upload_id FROM uploads")}

    def renew_tag(self, key: str, tag: str) -> None:
        """A legacy-tagged object found the same by its properties: record the current change tag."""
        self._batched("retag", "UPDATE objects SET src_version = ? WHERE key = ?", (tag, key), (tag, key))

    def record_verified(self, key: str) -> None:
        self._batched("verified", "UPDATE objects SET verified = 1 WHERE key = ?", (key,), (key,))

    def forget(self, key: str) -> None:
        self._batched("forget", "DELETE FROM objects WHERE key = ?", (key,), (key,))

    def counts(self) -> dict[str, int]:
        """What the state of record holds for the whole pair (the record's, not this run's slice)."""
        if self.record is not None:
            self.flush()
            return self.record.counts()
        with self._lock:
            objects, verified, size = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(verified), 0), COALESCE(SUM(size), 0) FROM objects"
            ).fetchone()
            uploads = self.db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0]
        return {"objects": objects, "verified": verified, "bytes": size, "uploadsInFlight": uploads}

    # -- multipart uploads in flight -------------------------------------------------------------

    def upload(self, key: str) -> UploadRecord | None:
        with self._lock:
            row = self.db.execute(
                "SELECT upload_id, part_size, size, src_version FROM uploads WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            parts = dict(self.db.execute("SELECT number, sha256 FROM parts WHERE key = ?", (key,)).fetchall())
        return UploadRecord(row[0], row[1], row[2], row[3], parts)

    def begin_upload(self, key: str, upload_id: str, part_size: int, size: int, src_version: str) -> None:
        with self._lock:
            self.flush()  # the upload is recorded before any part is sent, for whoever resumes it
            if self.record is not None:
                self.record.begin_upload(key, upload_id, part_size, size, src_version)
            self.db.execute("DELETE FROM parts WHERE key = ?", (key,))
            self.db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?)", (key, upload_id, part_size, size, src_version)
            )

    def record_part(self, key: str, number: int, sha256: str) -> None:
        with self._lock:
            self.flush()
            if self.record is not None:
                self.record.record_part(key, number, sha256)
            self.db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?)", (key, number, sha256))

    def end_upload(self, key: str) -> None:
        with self._lock:
            self.flush()
            if self.record is not None:
                self.record.end_upload(key)
            self.db.execute("DELETE FROM uploads WHERE key = ?", (key,))
            self.db.execute("DELETE FROM parts WHERE key = ?", (key,))
