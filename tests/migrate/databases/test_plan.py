"""Database pairs inside a migration plan: residency guard, run, status, verify through `opcloud migrate`."""

from __future__ import annotations

import json

import pytest
from opcloud.migrate.databases.plan import DatabasePair
from pydantic import ValidationError
from typer.testing import CliRunner

from opcloud.cli import app
from tests.servers.postgres import PASSWORD, PgPair


def _plan(tmp_path, pair: PgPair, target_place: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(
        f"""
name: prozorro-ua-db
jurisdiction: UA
state_dir: state
databases:
  - name: prozorro
    jobs: 2
    source: {{dsn_env: TEST_SRC_DSN, cloud: aws, region: eu-central-1}}
    target: {{host: 127.0.0.1, port: {pair.target.port}, dbname: {pair.target_db}, user: postgres, {target_place}}}
"""
    )
    return str(path)


def test_plan_runs_a_database_pair(source_db: PgPair, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_SRC_DSN", source_db.source_dsn)
    plan = _plan(tmp_path, source_db, "cloud: iaas, region: denovo-kyiv-1")
    runner = CliRunner()
    dry = runner.invoke(app, ["migrate", "plan", plan, "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["pairs"][0]["report"]["tables"] == 6
    run = runner.invoke(app, ["migrate", "run", plan, "--json", "--no-progress"])
    assert run.exit_code == 0, run.output
    pair = json.loads(run.stdout)["pairs"][0]
    assert pair["kind"] == "databases" and pair["report"]["kind"] == "db-copy" and pair["report"]["ok"]
    assert (tmp_path / "state" / "databases").is_dir()
    status = runner.invoke(app, ["migrate", "status", plan, "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["pairs"][0]["report"]["phase"] == "done"
    again = runner.invoke(app, ["migrate", "run", plan, "--json", "--no-progress"])  # already copied: no error
    assert again.exit_code == 0, again.output
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace")


def test_plan_refuses_a_target_outside_the_jurisdiction(source_db: PgPair, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_SRC_DSN", source_db.source_dsn)
    plan = _plan(tmp_path, source_db, "cloud: aws, region: eu-central-1")
    result = CliRunner().invoke(app, ["migrate", "run", plan])
    assert result.exit_code == 2
    assert "databases.prozorro" in result.stderr and "outside UA" in result.stderr
    with source_db.dst() as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'app'").fetchone()[0] == 0


def test_plan_pair_never_takes_an_inline_dsn() -> None:
    with pytest.raises(ValidationError, match="environment variable name"):
        DatabasePair.model_validate(
            {"name": "x", "source": {"dsn_env": "postgresql://u:pw@h/db"}, "target": {"host": "h"}}
        )
    with pytest.raises(ValidationError, match="password"):
        DatabasePair.model_validate({"name": "x", "source": {"host": "h", "password": "pw"}, "target": {"host": "h"}})
