"""What the source holds: tables (with columns, keys, sizes), sequences, extensions, roles.

Read in the copy's snapshot where it matters, so the list of tables is the one the data comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

# Builtin types have OIDs below FirstNormalObjectId; their binary COPY form is the same on every server.
# A user-defined type (composite, enum array, extension type) carries OIDs in binary: copy such tables as text.
FIRST_NORMAL_OID = 16384

USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"
    " AND n.nspname NOT LIKE 'pg\\_temp%'"
)
NOT_EXTENSION_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid"
    " AND d.deptype = 'e')"
)


@dataclass
class Table:
    schema: str
    name: str
    columns: list[str]
    pk: list[str]
    replica_identity: str  # d(efault: PK), f(ull), i(ndex), n(othing)
    rows_estimate: int
    size_bytes: int
    pages: int
    binary: bool
    all_columns: list[str] = field(default_factory=list)  # including generated ones, for hashing
    collatable: set[str] = field(default_factory=set)  # columns ordered with COLLATE "C" when hashing

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def key(self) -> tuple[str, str]:
        """State and lookup key: (schema, name) as two identifiers, never joined into one string."""
        return (self.schema, self.name)

    @property
    def display(self) -> str:
        """For people: `app.tenders`, quoted where a plain name would be ambiguous (`"x.y".z`)."""
        return display_name(self.schema, self.name)

    @property
    def column_list(self) -> str:
        return ", ".join(quote_ident(c) for c in self.columns)

    @property
    def replicable(self) -> bool:
        return self.replica_identity == "f" or (self.replica_identity == "d" and bool(self.pk))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


def display_name(schema: str, name: str) -> str:
    """schema.name with each part quoted only when it is not a plain lower-case identifier."""
    return ".".join(part if _PLAIN.match(part) else quote_ident(part) for part in (schema, name))


def tables(conn: psycopg.Connection) -> list[Table]:
    """Every ordinary table with data (partitions included, partitioned parents excluded), biggest first."""
    rows = conn.execute(
        f"""
        SELECT c.oid, n.nspname, c.relname, c.relreplident, greatest(c.reltuples, 0)::bigint,
               pg_relation_size(c.oid), pg_relation_size(c.oid) / current_setting('block_size')::int
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND {USER_SCHEMAS} AND {NOT_EXTENSION_MEMBER}
        ORDER BY pg_relation_size(c.oid) DESC, n.nspname, c.relname
        """
    ).fetchall()
    columns = _columns(conn)
    keys = _primary_keys(conn)
    result = []
    for oid, schema, name, ident, estimate, size, pages in rows:
        cols = columns.get(oid, [])
        result.append(
            Table(
                schema=schema, name=name,
                columns=[c for c, _, generated, _ in cols if not generated],
                all_columns=[c for c, _, _, _ in cols],
                pk=keys.get(oid, []), replica_identity=ident, rows_estimate=int(estimate),
                size_bytes=int(size), pages=int(pages),
                binary=all(type_oid < FIRST_NORMAL_OID for _, type_oid, _, _ in cols),
                collatable={c for c, _, _, collated in cols if collated},
            )
        )  # fmt: skip
    return result


def _columns(conn: psycopg.Connection) -> dict[int, list[tuple[str, int, bool, bool]]]:
    out: dict[int, list[tuple[str, int, bool, bool]]] = {}
    for oid, name, type_oid, generated, collated in conn.execute(
        """
        SELECT a.attrelid, a.attname, a.atttypid, a.attgenerated <> '', a.attcollation <> 0
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attrelid, a.attnum
        """
    ):
        out.setdefault(oid, []).append((name, int(type_oid), bool(generated), bool(collated)))
    return out


def _primary_keys(conn: psycopg.Connection) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for oid, cols in conn.execute(
        """
        SELECT i.indrelid, array_agg(a.attname ORDER BY k.ord)
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indisprimary
        GROUP BY i.indrelid
        """
    ):
        out[oid] = list(cols)
    return out


@dataclass
class Sequence:
    qualified: str
    last_value: int | None
    is_called: bool


def sequences(conn: psycopg.Connection) -> list[Sequence]:
    """Current value of every sequence (sequences are not transactional: read the live value)."""
    names = [
        r[0]
        for r in conn.execute(
            f"""
            SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'S' AND {USER_SCHEMAS} AND {NOT_EXTENSION_MEMBER} ORDER BY 1
            """
        ).fetchall()
    ]
    if not names:
        return []
    # One round trip for all of them (this runs during cutover, while the source is read-only).
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, last_value, is_called FROM {}").format(sql.Literal(name), sql.SQL(name)) for name in names
    )
    rows = conn.execute(query + sql.SQL(" ORDER BY 1")).fetchall()
    return [Sequence(name, int(last_value), bool(is_called)) for name, last_value, is_called in rows]


def set_sequences(conn: psycopg.Connection, seqs: list[Sequence]) -> None:
    for seq in seqs:
        conn.execute("SELECT setval(%s::regclass, %s, %s)", (seq.qualified, seq.last_value, seq.is_called))


def extensions(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())


def available_extensions(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions").fetchall()}


def referenced_roles(conn: psycopg.Connection) -> set[str]:
    """Roles that own or are granted something in this database: they must exist on the target."""
    rows = conn.execute(
        f"""
        WITH owners AS (
            SELECT c.relowner AS role FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE {USER_SCHEMAS}
            UNION SELECT n.nspowner FROM pg_namespace n WHERE {USER_SCHEMAS} AND n.nspname <> 'public'
            UNION SELECT p.proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE {USER_SCHEMAS}
            UNION SELECT t.typowner FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE {USER_SCHEMAS}
            UNION SELECT (aclexplode(c.relacl)).grantee FROM pg_class c JOIN pg_namespace n
              ON n.oid = c.relnamespace WHERE {USER_SCHEMAS} AND c.relacl IS NOT NULL
            UNION SELECT (aclexplode(n.nspacl)).grantee FROM pg_namespace n
              WHERE {USER_SCHEMAS} AND n.nspacl IS NOT NULL
        )
        SELECT r.rolname FROM owners o JOIN pg_roles r ON r.oid = o.role
        """
    ).fetchall()
    return {r[0] for r in rows}


def existing_roles(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}


def user_relation_count(conn: psycopg.Connection) -> int:
    """Tables, views, sequences and types in user schemas: zero for an empty database."""
    row = conn.execute(
        f"""
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMAS} AND {NOT_EXTENSION_MEMBER}
        """
    ).fetchone()
    return int(row[0]) if row else 0
