"""Bad input through the CLI: one clear line on stderr, exit 2, nothing written to the target."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from opcloud.cli import app
from tests.servers.postgres import PASSWORD, PgPair
from tests.servers.process import free_port

EXT_DIR = "/usr/share/postgresql/15/extension"


def _copy(*args: str):
    result = CliRunner().invoke(app, ["migrate", "db", "copy", *args])
    return result


def _target_relations(pair: PgPair) -> int:
    with pair.dst() as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchone()[0]


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert PASSWORD not in result.output
    return lines[0]


def test_unreachable_server(source_db: PgPair, tmp_path) -> None:
    result = _copy(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", source_db.target_dsn,
                   "--state-dir", str(tmp_path))  # fmt: skip
    assert result.exit_code == 2
    assert "cannot connect to postgresql://postgres@127.0.0.1" in _one_error_line(result)
    assert _target_relations(source_db) == 0


def test_wrong_password_from_environment(source_db: PgPair, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BAD_SRC_DSN", f"postgresql://postgres:wrong-pass@127.0.0.1:{source_db.source.port}/x")
    result = _copy("env:BAD_SRC_DSN", source_db.target_dsn, "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "password authentication failed" in line and "wrong-pass" not in line


def test_inline_password_refused(source_db: PgPair, tmp_path) -> None:
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{source_db.source.port}/{source_db.source_db}"
    result = _copy(dsn, source_db.target_dsn, "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "password in the DSN" in _one_error_line(result)


def test_unset_environment_variable(source_db: PgPair, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_DSN", raising=False)
    result = _copy("env:NO_SUCH_DSN", source_db.target_dsn, "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "NO_SUCH_DSN is not set" in _one_error_line(result)


def test_target_not_empty(source_db: PgPair, tmp_path) -> None:
    with source_db.dst() as conn:
        conn.execute("CREATE TABLE already_here (id int)")
    result = _copy(source_db.source_dsn, source_db.target_dsn, "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "is not empty" in _one_error_line(result)
    assert _target_relations(source_db) == 1
    assert not list(tmp_path.iterdir())  # no state written either


@pytest.fixture
def vanishing_extension():
    """An extension installed where the source runs, then removed: the target server lacks it."""
    control = f"{EXT_DIR}/opcloud_test_ext.control"
    script = f"{EXT_DIR}/opcloud_test_ext--1.0.sql"
    with open(control, "w") as f:
        f.write("default_version = '1.0'\nrelocatable = true\n")
    with open(script, "w") as f:
        f.write("CREATE FUNCTION opcloud_test_ext_answer() RETURNS int LANGUAGE sql AS 'SELECT 42';\n")

    def remove() -> None:
        import os

        for path in (control, script):
            if os.path.exists(path):
                os.remove(path)

    yield remove
    remove()


def test_missing_extension_on_target(source_db: PgPair, tmp_path, vanishing_extension) -> None:
    with source_db.src() as conn:
        conn.execute("CREATE EXTENSION opcloud_test_ext")
    vanishing_extension()
    result = _copy(source_db.source_dsn, source_db.target_dsn, "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "opcloud_test_ext" in _one_error_line(result) and "not available on the target" in result.stderr
    assert _target_relations(source_db) == 0


def test_online_refuses_tables_without_identity(source_db: PgPair, tmp_path) -> None:
    result = _copy(source_db.source_dsn, source_db.target_dsn, "--online", "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "app.audit_log" in _one_error_line(result)
    with source_db.src() as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
    assert _target_relations(source_db) == 0


def test_a_subscription_of_the_source_is_refused_by_name(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    with pair.src() as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY)")
        conn.execute(
            f"CREATE SUBSCRIPTION upstream_feed CONNECTION 'host=127.0.0.1 port={free_port()} dbname=x' "
            "PUBLICATION p WITH (connect = false, enabled = false, create_slot = false, slot_name = NONE)"
        )
    try:
        result = _copy(pair.source_dsn, pair.target_dsn, "--state-dir", str(tmp_path))
        assert result.exit_code == 2
        assert "upstream_feed" in _one_error_line(result) and "not carried" in result.stderr
        assert _target_relations(pair) == 0
    finally:
        with pair.src() as conn:
            conn.execute("DROP SUBSCRIPTION upstream_feed")
