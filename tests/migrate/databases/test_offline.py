"""Offline copy between two real PostgreSQL clusters, then verification."""

from __future__ import annotations

import json

import pytest
from opcloud.migrate.databases import dsn, engine
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.errors import CheckFailed, InputError
from tests.servers.postgres import PASSWORD, PgPair


def test_offline_copy_carries_everything_and_verifies(source_db: PgPair, tmp_path) -> None:
    pair = source_db
    report = engine.copy_database(
        dsn.parse(pair.source_dsn),
        dsn.parse(pair.target_dsn),
        jobs=3,
        split_rows=2000,
        state_dir=tmp_path,
        show_progress=False,
    )
    assert report.verification is not None and report.verification.ok, report.verification.problems
    by_table = {t.table: t for t in report.tables}
    assert by_table["app.tenders"].rows == 8000 and by_table["app.tenders"].ranges > 1
    assert by_table["app.events_2024"].rows + by_table["app.events_2023"].rows == 12000
    assert by_table["app.audit_log"].rows == 3000
    with pair.dst() as conn:
        # indexes, constraints, triggers, owner, grants, sequences, generated columns, the view
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'app'").fetchone()[0] >= 9
        assert (
            conn.execute(
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.tenders'::regclass"
            ).fetchone()[0]
            == "app_owner"
        )
        assert conn.execute("SELECT has_table_privilege('app_reader', 'app.bids', 'SELECT')").fetchone()[0]
        assert conn.execute("SELECT nextval('app.doc_numbers')").fetchone()[0] == 4243
        assert conn.execute("SELECT nextval('app.tenders_id_seq')").fetchone()[0] == 8001
        assert (
            conn.execute("SELECT amount_vat FROM app.tenders WHERE id = 10").fetchone()[0]
            == conn.execute("SELECT amount * 1.2 FROM app.tenders WHERE id = 10").fetchone()[0]
        )
        assert conn.execute("SELECT count(*) FROM app.active_tenders").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'tenders_no_future'").fetchone()[0] == 1
        # foreign keys are in force
        fk = conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'app.bids'::regclass")
        assert fk.fetchone()[0] == 1
    state = (tmp_path / report.state_file.split("/")[-1]).read_text()
    assert PASSWORD not in state and PASSWORD not in json.dumps(report.to_json())


def test_verify_detects_a_single_changed_row(source_db: PgPair, tmp_path) -> None:
    pair = source_db
    engine.copy_database(dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn), state_dir=tmp_path,
                         show_progress=False)  # fmt: skip
    runner = CliRunner()
    ok = runner.invoke(app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    with pair.dst() as conn:
        conn.execute("UPDATE app.tenders SET doc = jsonb_set(doc, '{nested,k}', '99') WHERE id = 4321")
    bad = runner.invoke(app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn, "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    failing = [t["table"] for t in data["tables"] if not t["ok"]]
    assert failing == ["app.tenders"]
    assert "rows differ" in " ".join(data["problems"])
    assert PASSWORD not in bad.output


def test_verify_reports_schema_and_sequence_drift_and_a_copied_pair_is_not_copied_again(
    source_db: PgPair, tmp_path
) -> None:
    pair = source_db
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    engine.copy_database(src, dst, state_dir=tmp_path, show_progress=False, run_verify=False)
    with pytest.raises(InputError, match="already copied"):
        engine.copy_database(src, dst, state_dir=tmp_path, show_progress=False)
    with pair.dst() as conn:
        conn.execute("SELECT setval('app.doc_numbers', 10)")
        conn.execute("DROP INDEX app.tenders_title_lower")
    report = engine.verify_databases(src, dst)
    assert [t.table for t in report.tables if not t.ok] == []  # the rows still agree
    assert report.sequences_behind == ["app.doc_numbers (source at 4242, target at 10)"]
    assert [item.split(":")[0] for item in report.schema["indexes"]["missing"]] == ["app.tenders_title_lower"]
    with pytest.raises(CheckFailed, match=r"sequence behind on the target: app\.doc_numbers"):
        engine.ensure_ok(report)


def test_verify_sees_schema_only_pg_dump_shows(source_db: PgPair, tmp_path) -> None:
    """A function body and a comment are no row, index or grant: the whole pg_dump --schema-only is compared."""
    pair = source_db
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    engine.copy_database(src, dst, state_dir=tmp_path, show_progress=False)
    with pair.dst() as conn:
        conn.execute("COMMENT ON TABLE app.tenders IS 'forged'")
        conn.execute(
            "CREATE OR REPLACE FUNCTION app.no_future() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"
        )
    result = CliRunner().invoke(app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn, "--json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any(p.startswith('schema (pg_dump) only on the target: COMMENT app.TABLE "tenders"') for p in problems)
    assert any(p.startswith("schema (pg_dump) missing on the target: FUNCTION app.no_future()") for p in problems)
