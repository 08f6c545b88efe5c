"""Schema through pg_dump: pre-data restored before the data, post-data split into statements run in parallel.

pg_dump reads the same exported snapshot as the COPY workers, so schema and data agree. Its plain output
marks every TOC entry with a `-- Name: ...; Type: ...; Schema: ...` header: that is where we split.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
from opcloud.migrate.databases.dsn import DbEndpoint, redact

from opcloud.errors import CheckFailed, ToolMissingError

PG_BINDIRS = (
    Path("/usr/lib/postgresql/15/bin"),
    Path("/usr/lib/postgresql/16/bin"),
    Path("/usr/lib/postgresql/17/bin"),
)

_HEADER = re.compile(r"^--\n-- (?:Data for )?Name: (.*?); Type: (.*?); Schema: (.*?); Owner: .*?\n--\n", re.MULTILINE)

# Independent of each other: built in parallel.
PARALLEL_TYPES = {"INDEX", "CONSTRAINT"}


def tool(name: str) -> str:
    """pg_dump/psql: from PATH or the Debian versioned directories (newest client wins)."""
    for bindir in reversed(PG_BINDIRS):
        if (bindir / name).exists():
            return str(bindir / name)
    found = shutil.which(name)
    if not found:
        raise ToolMissingError(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    return found


def dump(src: DbEndpoint, section: str, snapshot: str | None) -> str:
    """One section of pg_dump's plain output (`schema`: pre-data and post-data), in `snapshot` when given."""
    argv = [
        tool("pg_dump"), "-d", src.conninfo(), "--schema-only" if section == "schema" else f"--section={section}",
        "--no-subscriptions", "--quote-all-identifiers",
    ]  # fmt: skip
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    result = subprocess.run(argv, capture_output=True, text=True, env=src.subprocess_env())
    if result.returncode != 0:
        raise CheckFailed(f"pg_dump --section={section} failed: {_first_error(redact(result.stderr, src))}")
    return result.stdout


def restore_script(dst: DbEndpoint, sql: str) -> None:
    """Run a dump script in ONE transaction: a failure leaves the target as it was."""
    argv = [tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", dst.conninfo(), "-f", "-"]
    result = subprocess.run(argv, input=sql, capture_output=True, text=True, env=dst.subprocess_env())
    if result.returncode != 0:
        raise CheckFailed(f"restoring the schema failed: {_first_error(redact(result.stderr, dst))}")


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "ERROR" in line or "error" in line:
            return line.strip()
    return stderr.strip().splitlines()[0] if stderr.strip() else "(no message)"


@dataclass
class Entry:
    kind: str
    schema: str
    name: str
    sql: str

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.kind, self.schema, self.name)


def split(script: str) -> tuple[str, list[Entry]]:
    """(preamble of SET statements, entries in dump order)."""
    # pg_dump 15.14+ wraps its output in psql's \restrict/\unrestrict meta-commands: not SQL.
    script = "\n".join(line for line in script.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))
    parts = _HEADER.split(script)
    preamble = parts[0]
    entries = []
    for i in range(1, len(parts), 4):
        name, kind, schema, sql = parts[i], parts[i + 1], parts[i + 2], parts[i + 3]
        if sql.strip():
            entries.append(Entry(kind=kind, schema=schema, name=name, sql=sql.strip()))
    # A SET search_path inside the preamble is all the session state the entries need.
    preamble = "\n".join(line for line in preamble.splitlines() if not line.startswith("--"))
    return preamble, entries


def phases(entries: list[Entry]) -> list[tuple[bool, list[Entry]]]:
    """(parallel?, entries): indexes and keys together, then attachments, then foreign keys, then the rest."""
    first = [e for e in entries if e.kind in PARALLEL_TYPES]
    attach = [e for e in entries if e.kind == "INDEX ATTACH"]
    fks = [e for e in entries if e.kind == "FK CONSTRAINT"]
    rest = [e for e in entries if e.kind not in PARALLEL_TYPES | {"INDEX ATTACH", "FK CONSTRAINT"}]
    return [(True, first), (False, attach), (True, fks), (False, rest)]


_TABLE = re.compile(r'(?:\bON (?:ONLY )?|ALTER TABLE (?:ONLY )?)"((?:[^"]|"")+)"\."((?:[^"]|"")+)"')


def table_of(entry: Entry) -> tuple[str, str] | None:
    """(schema, table) an index or key is built on (pg_dump quotes every identifier for us)."""
    match = _TABLE.search(entry.sql)
    if not match:
        return None
    schema_name, table = (part.replace('""', '"') for part in match.groups())
    return (schema_name, table)


class PostData:
    """Indexes and keys of a table start as soon as its data is in (overlapping the copy of other tables);
    the rest (attachments, foreign keys, triggers, ...) runs once every table is loaded."""

    def __init__(
        self, dst: DbEndpoint, script: str, jobs: int, done: set[tuple[str, str, str]],
        on_done: Callable[[Entry, float], None], skip_publication: str | None = None,
    ) -> None:  # fmt: skip
        self.dst, self.jobs, self.on_done = dst, jobs, on_done
        self.preamble, entries = split(script)
        # The source's own publications are carried; the online copy's publication is not.
        entries = [e for e in entries if not (e.kind.startswith("PUBLICATION") and skip_publication
                   and (e.name == skip_publication or e.name.startswith(skip_publication + " ")))]  # fmt: skip
        self.phases = [(parallel, [e for e in group if e.id not in done]) for parallel, group in phases(entries)]
        self.by_table: dict[tuple[str, str] | None, list[Entry]] = {}
        for entry in self.phases[0][1]:
            self.by_table.setdefault(table_of(entry), []).append(entry)
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="index")
        self.futures: list[Future[tuple[Entry, float]]] = []
        self._lock = threading.Lock()

    def entries_on(self, key: tuple[str, str]) -> int:
        return len(self.by_table.get(key, []))

    def table_loaded(self, key: tuple[str, str]) -> None:
        with self._lock:
            for entry in self.by_table.pop(key, []):
                self.futures.append(self.pool.submit(self._run, entry))

    def _run(self, entry: Entry) -> tuple[Entry, float]:
        result = _run_entry(self.dst, self.preamble, entry)
        self.on_done(*result)
        return result

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def finish(self) -> None:
        """Run what is left: the first failure is raised."""
        with self._lock:
            for entries in self.by_table.values():
                self.futures.extend(self.pool.submit(self._run, e) for e in entries)
            self.by_table.clear()
        for future in self.futures:
            future.result()
        for parallel, group in self.phases[1:]:
            if not group:
                continue
            with ThreadPoolExecutor(max_workers=self.jobs if parallel else 1, thread_name_prefix="post-data") as pool:
                list(pool.map(self._run, group))


def _run_entry(dst: DbEndpoint, preamble: str, entry: Entry) -> tuple[Entry, float]:
    started = time.monotonic()
    for attempt in range(5):
        with dst.connect() as conn:
            conn.execute("SET maintenance_work_mem = '256MB'")
            conn.execute(preamble)
            try:
                with conn.transaction():
                    conn.execute(entry.sql)
                return entry, time.monotonic() - started
            except psycopg.errors.DeadlockDetected:
                # Two foreign keys between the same tables, built at once: try again.
                time.sleep(0.1 * (attempt + 1))
            except psycopg.Error as error:
                message = str(error).strip().splitlines()[0]
                raise CheckFailed(f"{entry.kind} {entry.name} on the target failed: {message}") from None
    raise CheckFailed(f"{entry.kind} {entry.name}: deadlocked five times")
