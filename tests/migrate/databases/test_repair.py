"""A failed verification leaves the copy repairable; tables are keyed by (schema, name); old state is refused."""

from __future__ import annotations

import json

import pytest
from opcloud.migrate.databases import dsn, engine
from opcloud.migrate.databases.state import load, state_path
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.errors import CheckFailed
from tests.servers.postgres import PgPair


def test_a_failed_verification_is_repaired_by_the_next_run(source_db: PgPair, tmp_path, monkeypatch) -> None:
    pair = source_db
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    real_verify = engine.verify

    def target_changed_before_verification(*args, **kwargs):
        with pair.dst() as conn:  # someone writes to the target while the copy finishes
            conn.execute("UPDATE app.tenders SET title = 'changed' WHERE id = 5")
            conn.execute("DELETE FROM app.audit_log WHERE ctid IN (SELECT ctid FROM app.audit_log LIMIT 10)")
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(engine, "verify", target_changed_before_verification)
    first = engine.copy_database(src, dst, jobs=2, state_dir=tmp_path, show_progress=False)
    monkeypatch.setattr(engine, "verify", real_verify)
    assert first.verification is not None and not first.verification.ok
    with pytest.raises(CheckFailed, match="verification failed"):
        engine.ensure_ok(first)
    state = load(tmp_path, src.identity, dst.identity)
    assert state is not None and state.phase == "verify-failed" and state.verified is False
    assert state.tables[("app", "tenders")].status == "started"
    assert state.tables[("app", "audit_log")].status == "started"

    status = CliRunner().invoke(
        app, ["migrate", "db", "status", pair.source_dsn, pair.target_dsn, "--state-dir", str(tmp_path), "--json"]
    )
    assert json.loads(status.stdout)["phase"] == "verify-failed"

    again = engine.copy_database(src, dst, jobs=2, state_dir=tmp_path, show_progress=False)
    assert again.verification is not None and again.verification.ok, again.verification.problems
    assert set(again.repaired) == {"app.tenders", "app.audit_log"}
    assert {t.table for t in again.tables if not t.resumed} == {"app.tenders", "app.audit_log"}
    assert load(tmp_path, src.identity, dst.identity).phase == "done"
    with pair.dst() as conn:
        assert conn.execute("SELECT title FROM app.tenders WHERE id = 5").fetchone()[0] != "changed"
        assert conn.execute("SELECT count(*) FROM app.audit_log").fetchone()[0] == 3000
        assert conn.execute("SELECT count(*) FROM app.bids").fetchone()[0] == 16000
        # app.bids' foreign key to app.tenders was dropped to empty app.tenders, and built again
        fk = "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'app.bids'::regclass"
        assert conn.execute(fk).fetchone()[0] == 1


def test_tables_whose_names_differ_only_in_where_the_dot_sits(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    with pair.src() as conn:
        conn.execute('CREATE SCHEMA "x.y"; CREATE SCHEMA x')
        conn.execute('CREATE TABLE "x.y".z (id int PRIMARY KEY, v text)')
        conn.execute('CREATE TABLE x."y.z" (id int PRIMARY KEY, v text)')
        conn.execute("INSERT INTO \"x.y\".z SELECT g, 'first ' || g FROM generate_series(1, 3) g")
        conn.execute("INSERT INTO x.\"y.z\" SELECT g, 'second ' || g FROM generate_series(1, 5) g")
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    report = engine.copy_database(src, dst, jobs=2, state_dir=tmp_path, show_progress=False)
    assert report.verification is not None and report.verification.ok, report.verification.problems
    assert {(t.schema, t.name): t.rows for t in report.tables} == {("x.y", "z"): 3, ("x", "y.z"): 5}
    assert sorted(t.table for t in report.tables) == ['"x.y".z', 'x."y.z"']
    with pair.dst() as conn:
        assert conn.execute('SELECT count(*), min(v) FROM "x.y".z').fetchone() == (3, "first 1")
        assert conn.execute('SELECT count(*), min(v) FROM x."y.z"').fetchone() == (5, "second 1")
    state = load(tmp_path, src.identity, dst.identity)
    assert set(state.tables) == {("x.y", "z"), ("x", "y.z")}


def test_a_state_file_of_an_older_format_is_refused(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    with pair.src() as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY)")
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    old = state_path(tmp_path, src.identity, dst.identity)
    old.write_text(json.dumps({
        "source": src.display, "target": dst.display, "mode": "offline", "phase": "data", "schema_done": True,
        "tables": {"public.t": {"status": "done", "rows": 0, "bytes": 0, "seconds": 0.0, "ranges": 1,
                                "ranges_done": 1}},
        "post_data_done": [], "replication": {}, "verified": None, "started_at": 0.0, "updated_at": 0.0,
    }))  # fmt: skip
    result = CliRunner().invoke(
        app, ["migrate", "db", "copy", pair.source_dsn, pair.target_dsn, "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "has format 1" in lines[0] and str(old) in lines[0]
    with pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
