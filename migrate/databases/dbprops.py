"""Database-level properties, which pg_dump writes only with --create (we restore into an existing database):
owner, connection limit, settings (`ALTER DATABASE ... SET`, `ALTER ROLE ... IN DATABASE ... SET`),
grants and comment. Read from the source, applied to the target under the target's name, compared by verify.
Encoding and locale cannot be changed after CREATE DATABASE: a difference is refused in the preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

# Settings whose value is a list of quoted items (pg_dump's GUC_LIST_QUOTE): each item is one literal.
_LIST_SETTINGS = {
    "search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries",
    "shared_preload_libraries", "unix_socket_directories",
}  # fmt: skip


@dataclass
class Setting:
    role: str | None  # None: for every role (ALTER DATABASE ... SET)
    name: str
    value: str

    def __str__(self) -> str:
        scope = f"role {self.role}" if self.role else "database"
        return f"{scope}: {self.name}={self.value}"


@dataclass
class Grant:
    grantee: str  # "PUBLIC" or a role name
    privilege: str
    grantable: bool
    grantor: str

    def __str__(self) -> str:
        option = " with grant option" if self.grantable else ""
        return f"{self.privilege} to {self.grantee}{option} (by {self.grantor})"


@dataclass
class DatabaseProperties:
    owner: str
    encoding: str
    collate: str
    ctype: str
    connection_limit: int
    comment: str | None
    settings: list[Setting] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)

    def roles(self) -> set[str]:
        return (
            {self.owner}
            | {s.role for s in self.settings if s.role}
            | {g.grantee for g in self.grants if g.grantee != "PUBLIC"}
            | {g.grantor for g in self.grants}
        )

    def items(self) -> set[str]:
        """What verify compares, one line per property (the locale too: sort order depends on it)."""
        return {
            f"owner {self.owner}", f"encoding {self.encoding}", f"collate {self.collate}", f"ctype {self.ctype}",
            f"connection limit {self.connection_limit}", f"comment {self.comment!r}",
            *(f"setting {s}" for s in self.settings), *(f"grant {g}" for g in self.grants),
        }  # fmt: skip


def read(conn: psycopg.Connection) -> DatabaseProperties:
    row = conn.execute(
        "SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,"
        " d.datconnlimit, shobj_description(d.oid, 'pg_database')"
        " FROM pg_database d WHERE d.datname = current_database()"
    ).fetchone()
    assert row is not None
    props = DatabaseProperties(*row)
    for role, config in conn.execute(
        "SELECT r.rolname, c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
        " LEFT JOIN pg_roles r ON r.oid = s.setrole CROSS JOIN LATERAL unnest(s.setconfig) AS c"
        " WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST, 2"
    ).fetchall():
        name, _, value = str(config).partition("=")
        props.settings.append(Setting(role, name, value))
    for grantee, privilege, grantable, grantor in conn.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type,"
        " a.is_grantable, pg_get_userbyid(a.grantor)"
        " FROM pg_database d CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a"
        " WHERE d.datname = current_database() ORDER BY 1, 2"
    ).fetchall():
        props.grants.append(Grant(grantee, privilege, bool(grantable), grantor))
    return props


def _role(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "PUBLIC" else sql.Identifier(name)


def _value(setting: Setting) -> sql.Composable:
    if setting.name in _LIST_SETTINGS:
        return sql.SQL(", ").join(sql.Literal(item) for item in _split_list(setting.value))
    return sql.Literal(setting.value)


def _split_list(value: str) -> list[str]:
    """`"$user", public` -> ['$user', 'public'] (identifiers as PostgreSQL stores list settings)."""
    items, current, quoted, i = [], "", False, 0
    while i < len(value):
        char = value[i]
        if quoted:
            if char == '"' and value[i + 1 : i + 2] == '"':
                current += '"'
                i += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"':
            quoted = True
        elif char == ",":
            items.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    items.append(current.strip())
    return [item for item in items if item]


def statements(source: DatabaseProperties, target: DatabaseProperties, dbname: str) -> list[sql.Composed]:
    """What makes the target's properties equal to the source's (grants and settings both ways)."""
    db = sql.Identifier(dbname)
    out: list[sql.Composed] = []
    if source.owner != target.owner:
        out.append(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(source.owner)))
    if source.connection_limit != target.connection_limit:
        out.append(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(db, sql.Literal(source.connection_limit)))
    if source.comment != target.comment:
        out.append(sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(source.comment)))
    wanted = {(s.role, s.name): s for s in source.settings}
    for s in target.settings:
        if (s.role, s.name) not in wanted:
            scope = sql.SQL("ROLE {} IN DATABASE {}").format(sql.Identifier(s.role), db) if s.role else db
            kind = sql.SQL("ALTER ROLE" if s.role else "ALTER DATABASE")
            out.append(sql.SQL("{} {} RESET {}").format(kind, scope, sql.Identifier(s.name)))
    have = {(s.role, s.name): s.value for s in target.settings}
    for s in source.settings:
        if have.get((s.role, s.name)) != s.value:
            if s.role:
                out.append(sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} TO {}").format(
                    sql.Identifier(s.role), db, sql.Identifier(s.name), _value(s)))  # fmt: skip
            else:
                out.append(sql.SQL("ALTER DATABASE {} SET {} TO {}").format(db, sql.Identifier(s.name), _value(s)))
    # Grants after the owner change, which rewrites the owner's own entries.
    src_grants = {(g.grantee, g.privilege, g.grantable) for g in source.grants}
    dst_grants = {(g.grantee, g.privilege, g.grantable) for g in target.grants}
    for grantee, privilege, _grantable in sorted(dst_grants - src_grants):
        if grantee == source.owner:
            continue  # the owner's privileges follow the owner
        out.append(sql.SQL("REVOKE {} ON DATABASE {} FROM {}").format(sql.SQL(privilege), db, _role(grantee)))
    for grantee, privilege, grantable in sorted(src_grants - dst_grants):
        option = sql.SQL(" WITH GRANT OPTION" if grantable else "")
        out.append(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(sql.SQL(privilege), db, _role(grantee), option))
    return out


def apply(conn: psycopg.Connection, source: DatabaseProperties, dbname: str) -> int:
    """Apply on the target in one transaction. Returns the number of statements run."""
    with conn.transaction():
        todo = statements(source, read(conn), dbname)
        for statement in todo:
            conn.execute(statement)
    return len(todo)


def trial(conn: psycopg.Connection, source: DatabaseProperties, dbname: str) -> str | None:
    """Run every statement in a transaction that is rolled back: the first refusal, or None."""
    conn.execute("BEGIN")
    try:
        for statement in statements(source, read(conn), dbname):
            try:
                conn.execute(statement)
            except psycopg.Error as error:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                return f"{statement.as_string(conn)}: {first}"
        return None
    finally:
        conn.execute("ROLLBACK")
