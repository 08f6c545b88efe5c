"""The database commands' --json in the one key style (camelCase), as every other command's."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opcloud.cli import app
from tests.servers.postgres import PgPair
from tests.test_json_style import off_style


def test_db_copy_verify_and_status_json_are_camel_case(source_db: PgPair, tmp_path: Path) -> None:
    pair, runner, state = source_db, CliRunner(), ["--state-dir", str(tmp_path)]
    for command in ("copy", "verify", "status"):
        argv = ["migrate", "db", command, pair.source_dsn, pair.target_dsn, "--json"]
        result = runner.invoke(app, [*argv, *state] if command != "verify" else argv)
        assert result.stdout.strip(), result.output
        assert off_style(json.loads(result.stdout)) == [], command
