"""Verification: per table, row count and one SHA-256 over the rows' hashes in primary-key order, on both
sides; plus a comparison of the schemas (tables, columns, indexes, constraints, sequences, views, grants).

The ordered chain detects a changed, missing, duplicated or swapped row, which a sum of row hashes does
not (two rows swapping values, or the same row twice and another never, keep the sum). Rows are turned
into text under fixed session settings so two servers (even of different major versions) print alike;
text keys are ordered with COLLATE "C" so the order does not depend on the servers' locales. A table
without a primary key is hashed in the order of its row hashes (a multiset hash).
"""

from __future__ import annotations

import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from opcloud.migrate.databases import catalog, dbprops, largeobjects, replication, schema
from opcloud.migrate.databases.catalog import Table, quote_ident
from opcloud.migrate.databases.dsn import DbEndpoint
from opcloud.migrate.databases.snapshot import SESSION_SETTINGS, connect_in

from opcloud.errors import CheckFailed
from opcloud.jsonstyle import to_json


@dataclass
class TableCheck:
    table: str  # for people (quoted where ambiguous); schema and name are the identifiers
    schema: str
    name: str
    order: str  # "primary key" | "row hash"
    source_rows: int = 0
    target_rows: int = 0
    source_hash: str = ""
    target_hash: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.source_rows == self.target_rows and self.source_hash == self.target_hash


@dataclass
class VerifyReport:
    source: str
    target: str
    tables: list[TableCheck] = field(default_factory=list)
    schema: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # category -> missing/extra
    sequences_behind: list[str] = field(default_factory=list)
    large_objects: list[str] = field(default_factory=list)  # contents that differ (by hash), missing or extra
    large_objects_checked: int = 0
    errors: list[str] = field(default_factory=list)  # what could not be compared: never ok then

    @property
    def ok(self) -> bool:
        return (
            all(t.ok for t in self.tables) and not self.schema and not self.sequences_behind
            and not self.large_objects and not self.errors
        )  # fmt: skip

    @property
    def problems(self) -> list[str]:
        out = []
        for t in self.tables:
            if t.error:
                out.append(f"{t.table}: {t.error}")
            elif t.source_rows != t.target_rows:
                out.append(f"{t.table}: {t.source_rows} rows on the source, {t.target_rows} on the target")
            elif t.source_hash != t.target_hash:
                out.append(f"{t.table}: same row count ({t.source_rows}) but the rows differ (hash mismatch)")
        for category, diff in self.schema.items():
            for item in diff.get("missing", []):
                out.append(f"{category} missing on the target: {item}")
            for item in diff.get("extra", []):
                out.append(f"{category} only on the target: {item}")
        out.extend(f"sequence behind on the target: {s}" for s in self.sequences_behind)
        out.extend(self.large_objects)
        out.extend(f"not compared: {e}" for e in self.errors)
        return out

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        data["ok"] = self.ok
        for entry, table in zip(data["tables"], self.tables, strict=True):
            entry["ok"] = table.ok
        data["problems"] = self.problems
        return data


def hash_query(table: Table) -> tuple[str, str]:
    row = "ROW(" + ", ".join(quote_ident(c) for c in table.all_columns) + ")::text"
    if table.pk:
        order = ", ".join(quote_ident(c) + (' COLLATE "C"' if c in table.collatable else "") for c in table.pk)
        return f"COPY (SELECT md5({row}) FROM ONLY {table.qualified} ORDER BY {order}) TO STDOUT", "primary key"
    inner = f"SELECT md5({row}) AS h FROM ONLY {table.qualified}"
    return f'COPY (SELECT h FROM ({inner}) AS rows ORDER BY h COLLATE "C") TO STDOUT', "row hash"


def table_hash(conn: psycopg.Connection, sql: str) -> tuple[int, str]:
    """Stream the ordered row hashes (33 bytes a row) through one SHA-256."""
    digest = hashlib.sha256()
    rows = 0
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for chunk in copy:
            digest.update(chunk)
            rows += bytes(chunk).count(b"\n")
    return rows, digest.hexdigest()


def verify(
    src: DbEndpoint,
    dst: DbEndpoint,
    jobs: int = 4,
    snapshot: str | None = None,
    check_sequences: bool = True,
    source_properties: set[str] | None = None,
) -> VerifyReport:
    """Compare source (in `snapshot` when given) and target; never raises for a difference.

    `source_properties`: the source database's own properties as read before cutover closed it (the guard's
    temporary changes are not the source's)."""
    report = VerifyReport(source=src.display, target=dst.display)
    src_conn = connect_in(src, snapshot) if snapshot else _plain(src)
    dst_conn = _plain(dst)
    try:
        tables = catalog.tables(src_conn)
        report.schema = compare_schema(src_conn, dst_conn, source_properties)
        # Sequences are not transactional: while an online copy follows, the source runs ahead until cutover.
        if check_sequences:
            report.sequences_behind = _sequences_behind(src_conn, dst_conn)
        _compare_large_objects(src_conn, dst_conn, report)
        _compare_dumps(src, dst, snapshot, report)
    finally:
        src_conn.close()
        dst_conn.close()

    local = threading.local()
    opened: list[psycopg.Connection] = []
    lock = threading.Lock()

    def side(endpoint: DbEndpoint, is_source: bool) -> psycopg.Connection:
        attr = "src" if is_source else "dst"
        conn = getattr(local, attr, None)
        if conn is None:
            conn = connect_in(endpoint, snapshot) if (is_source and snapshot) else _plain(endpoint)
            setattr(local, attr, conn)
            with lock:
                opened.append(conn)
        return conn

    def check(table: Table) -> TableCheck:
        sql, order = hash_query(table)
        result = TableCheck(table=table.display, schema=table.schema, name=table.name, order=order)
        result.source_rows, result.source_hash = table_hash(side(src, True), sql)
        target = side(dst, False)
        try:
            result.target_rows, result.target_hash = table_hash(target, sql)
        except psycopg.Error as error:
            target.rollback()
            result.error = "target: " + (str(error).strip().splitlines() or ["error"])[0]
        return result

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="verify") as pool:
            report.tables = sorted(pool.map(check, tables), key=lambda t: t.table)
    finally:
        for conn in opened:
            conn.close()
    return report


def _plain(endpoint: DbEndpoint) -> psycopg.Connection:
    conn = endpoint.connect(autocommit=False)
    conn.read_only = True
    for setting in SESSION_SETTINGS:
        conn.execute(setting)
    return conn


_SCHEMA_QUERIES: dict[str, str] = {
    "relations": f"""
        SELECT format('%I.%I (%s%s)', n.nspname, c.relname, c.relkind, CASE c.relpersistence WHEN 'u'
               THEN ', unlogged' ELSE '' END)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {catalog.USER_SCHEMAS}""",
    "columns": f"""
        SELECT format('%I.%I.%I %s%s%s%s', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
               CASE WHEN a.attgenerated <> '' THEN ' generated ' ELSE ' default ' END
                 || coalesce(pg_get_expr(d.adbin, d.adrelid), '-'),
               CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
          AND {catalog.USER_SCHEMAS}""",
    "indexes": f"""
        SELECT format('%I.%I', n.nspname, c.relname) || ': ' || pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {catalog.USER_SCHEMAS}""",
    "constraints": f"""
        SELECT format('%I.%I %I', n.nspname, c.relname, k.conname) || ': ' || pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {catalog.USER_SCHEMAS}""",
    "sequences": f"""
        SELECT format('%I.%I %s start %s increment %s min %s max %s cycle %s', n.nspname, c.relname,
               format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle)
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {catalog.USER_SCHEMAS}""",
    "views": f"""
        SELECT format('%I.%I', n.nspname, c.relname) || ': ' || pg_get_viewdef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {catalog.USER_SCHEMAS}""",
    "triggers": f"""
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {catalog.USER_SCHEMAS}""",
    "owners and grants": f"""
        SELECT format('%I.%I owner %s acl %s', n.nspname, c.relname, pg_get_userbyid(c.relowner),
               coalesce(c.relacl::text, 'default'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {catalog.USER_SCHEMAS}""",
    "extensions": "SELECT extname FROM pg_extension",
    "large objects (owner, grants, comment)": """
        SELECT format('%s owner %s acl %s comment %L', m.oid, pg_get_userbyid(m.lomowner),
               coalesce(m.lomacl::text, 'default'), obj_description(m.oid, 'pg_largeobject'))
        FROM pg_largeobject_metadata m""",
}


def _compare_large_objects(src: psycopg.Connection, dst: psycopg.Connection, report: VerifyReport) -> None:
    """Every large object's contents, hashed piece by piece on each server."""
    sides = []
    for side, conn in (("source", src), ("target", dst)):
        try:
            with conn.transaction():  # a savepoint: a refused read leaves the rest of the checks running
                sides.append(largeobjects.hashes(conn))
        except psycopg.Error as error:
            report.errors.append(f"large objects cannot be read on the {side}: {_first_line(error)}")
            return
    report.large_objects_checked = len(sides[0])
    report.large_objects = largeobjects.compare(sides[0], sides[1])


def _dump_entries(endpoint: DbEndpoint, snapshot: str | None) -> set[str]:
    """Every entry of pg_dump --schema-only as `KIND schema.name <hash of its SQL>` (an online copy's own
    publication left out): what pg_dump would restore, compared whole, beyond the catalog queries above."""
    _, entries = schema.split(schema.dump(endpoint, "schema", snapshot))
    ours = re.compile(replication.OURS.rstrip("$"))
    out = set()
    for entry in entries:
        if entry.kind.startswith("PUBLICATION") and ours.match(entry.name):
            continue
        digest = hashlib.sha256(entry.sql.encode()).hexdigest()[:12]
        out.add(f"{entry.kind} {entry.schema}.{entry.name} <{digest}>")
    return out


def _compare_dumps(src: DbEndpoint, dst: DbEndpoint, snapshot: str | None, report: VerifyReport) -> None:
    try:
        source, target = _dump_entries(src, snapshot), _dump_entries(dst, None)
    except CheckFailed as error:
        report.errors.append(f"schema through pg_dump: {error}")
        return
    missing, extra = sorted(source - target), sorted(target - source)
    if missing or extra:
        report.schema["schema (pg_dump)"] = {"missing": missing, "extra": extra}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


_PUBLICATIONS = """
    SELECT format('%%I all tables %%s, insert %%s, update %%s, delete %%s, truncate %%s, owner %%s', p.pubname,
           p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, pg_get_userbyid(p.pubowner))
    FROM pg_publication p WHERE p.pubname !~ %(ours)s
    UNION ALL
    SELECT format('%%I table %%I.%%I', t.pubname, t.schemaname, t.tablename) FROM pg_publication_tables t
    WHERE t.pubname !~ %(ours)s"""


def _schema_sets(conn: psycopg.Connection) -> dict[str, set[str]]:
    conn.execute("SET search_path = ''")  # every name printed schema-qualified, alike on both sides
    sets = {name: {r[0] for r in conn.execute(sql).fetchall()} for name, sql in _SCHEMA_QUERIES.items()}
    sets["publications"] = {r[0] for r in conn.execute(_PUBLICATIONS, {"ours": replication.OURS}).fetchall()}
    sets["database properties"] = dbprops.read(conn).items()
    return sets


def compare_schema(
    src: psycopg.Connection, dst: psycopg.Connection, source_properties: set[str] | None = None
) -> dict[str, dict[str, list[str]]]:
    """Every category of schema object, and the database's own properties; an online copy's publication
    (on the source only while it follows) is left out."""
    source, target = _schema_sets(src), _schema_sets(dst)
    if source_properties is not None:
        source["database properties"] = set(source_properties)
    diff: dict[str, dict[str, list[str]]] = {}
    for name in source:
        missing, extra = sorted(source[name] - target[name]), sorted(target[name] - source[name])
        if missing or extra:
            diff[name] = {"missing": missing, "extra": extra}
    return diff


def _sequences_behind(src: psycopg.Connection, dst: psycopg.Connection) -> list[str]:
    """A target sequence behind the source would hand out ids that already exist."""
    target = {s.qualified: s for s in catalog.sequences(dst)}
    behind = []
    for seq in catalog.sequences(src):
        other = target.get(seq.qualified)
        if other is None or seq.last_value is None:
            continue
        src_used = seq.last_value if seq.is_called else seq.last_value - 1
        dst_used = (other.last_value if other.is_called else other.last_value - 1) if other.last_value else 0
        if dst_used < src_used:
            behind.append(f"{seq.qualified} (source at {src_used}, target at {dst_used})")
    return behind
