"""Online copy while a writer keeps changing the source, then cutover: the target ends equal, no
replication object is left on either side, the source is read-only."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from opcloud.migrate.databases import dsn, engine
from typer.testing import CliRunner

from opcloud.cli import app
from tests.servers.postgres import PASSWORD, PgPair


def _replication_objects(pair: PgPair) -> list[str]:
    with pair.src() as src, pair.dst() as dst:
        return (
            # this test's databases only: slots and subscriptions are listed cluster-wide
            [
                f"slot {r[0]}"
                for r in src.execute(
                    "SELECT slot_name FROM pg_replication_slots WHERE database = current_database()"
                ).fetchall()
            ]
            + [f"publication {r[0]}" for r in src.execute("SELECT pubname FROM pg_publication").fetchall()]
            + [
                f"subscription {r[0]}"
                for r in dst.execute(
                    "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ).fetchall()
            ]
        )


def test_online_copy_with_live_writer_then_cutover(source_db: PgPair, writer_factory, tmp_path) -> None:
    pair = source_db
    with pair.src() as conn:
        conn.execute("ALTER TABLE app.audit_log REPLICA IDENTITY FULL")
    writer = writer_factory(pair)
    writer.start()
    try:
        while writer.commits < 20:
            time.sleep(0.05)
        runner = CliRunner()
        copied = runner.invoke(
            app,
            ["migrate", "db", "copy", pair.source_dsn, pair.target_dsn, "--online", "--jobs", "3",
             "--split-rows", "2000", "--state-dir", str(tmp_path), "--json"],
        )  # fmt: skip
        assert copied.exit_code == 0, copied.output
        report = json.loads(copied.stdout)
        assert report["mode"] == "online" and report["verification"]["ok"]
        assert "audit_log" in " ".join(report["warnings"])  # REPLICA IDENTITY FULL reported
        commits_at_copy = writer.commits
        while writer.commits < commits_at_copy + 30:  # changes made after the copy must follow too
            time.sleep(0.05)

        status = runner.invoke(app, ["migrate", "db", "status", pair.source_dsn, pair.target_dsn,
                                     "--state-dir", str(tmp_path), "--json"])  # fmt: skip
        assert status.exit_code == 0, status.output
        lag = json.loads(status.stdout)["lag"]
        assert lag["active"] is True and lag["lagBytes"] is not None
        assert json.loads(status.stdout)["phase"] == "following"

        # The writer is still running: cutover ends its session.
        cut = runner.invoke(app, ["migrate", "db", "cutover", pair.source_dsn, pair.target_dsn,
                                  "--state-dir", str(tmp_path), "--json"])  # fmt: skip
        assert cut.exit_code == 0, cut.output
        result = json.loads(cut.stdout)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is not None  # its session was terminated by the cutover
    assert result["ok"] and result["verification"]["ok"]
    assert result["sessionsTerminated"] >= 1
    assert any("slot" in item for item in result["cleanedUp"])
    assert result["nextSteps"]
    assert _replication_objects(pair) == []
    assert PASSWORD not in cut.output + copied.output + status.output

    with pair.src() as src, pair.dst() as dst:
        # every change replicated: the live rows, deleted rows and the synced sequences
        live = src.execute("SELECT count(*) FROM app.tenders WHERE title LIKE 'live %'").fetchone()[0]
        assert live > 50
        assert dst.execute("SELECT count(*) FROM app.tenders WHERE title LIKE 'live %'").fetchone()[0] == live
        assert (
            dst.execute("SELECT last_value FROM app.tenders_id_seq").fetchone()[0]
            == src.execute("SELECT last_value FROM app.tenders_id_seq").fetchone()[0]
        )
        assert dst.execute("SELECT last_value FROM app.doc_numbers").fetchone()[0] > 4242
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            src.execute("INSERT INTO app.audit_log VALUES (now(), 'after cutover')")

    final = runner.invoke(
        app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn, "--state-dir", str(tmp_path)]
    )
    assert final.exit_code == 0, final.output
    with pair.source.connect() as admin:
        admin.execute(f"ALTER DATABASE {pair.source_db} RESET default_transaction_read_only")


def test_abort_leaves_no_replication_behind(source_db: PgPair, tmp_path) -> None:
    pair = source_db
    with pair.src() as conn:
        conn.execute("ALTER TABLE app.audit_log REPLICA IDENTITY FULL")
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    engine.copy_database(src, dst, online=True, state_dir=tmp_path, show_progress=False, run_verify=False)
    assert len(_replication_objects(pair)) == 3
    dropped = engine.abort(src, dst, tmp_path)
    assert len(dropped) == 3
    assert _replication_objects(pair) == []
    assert engine.status(src, dst, tmp_path).known is False
