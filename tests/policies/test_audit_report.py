"""`opcloud report audit`: the yearly internal audit, every stack checked and compared with the previous audit."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import stack_file

runner = CliRunner()


def _unprotected(tmp_path: Path) -> Path:
    text = stack_file("rialto-prod").read_text()
    text = text.replace("  opcloud:database:\n", "  opcloud:database:\n    deletionProtection: false\n")
    path = tmp_path / "Pulumi.rialto-prod.yaml"  # the same stack, a year later, with its protection switched off
    path.write_text(text)
    return path


def test_a_year_later_the_audit_names_what_changed(tmp_path: Path) -> None:
    first = runner.invoke(app, ["report", "audit", "rialto-prod", "--out", str(tmp_path / "2026")])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "2026" / "rialto-prod.json").is_file() and "| rialto-prod | COMPLIANT |" in first.stdout
    later = runner.invoke(app, ["report", "audit", str(_unprotected(tmp_path)), "--out", str(tmp_path / "2027"),
                                "--previous", str(tmp_path / "2026"), "--json"])  # fmt: skip
    assert later.exit_code == 1  # not COMPLIANT: the audit's evidence is written all the same
    (entry,) = json.loads(later.stdout)["stacks"]
    assert entry["stack"] == "rialto-prod" and entry["verdict"] == "VIOLATED" and entry["previousFound"]
    since = entry["sinceLastAudit"]
    assert since["previousVerdict"] == "COMPLIANT" and since["verdictChanged"]
    assert any(f["rule"] == "deletion-protection" for f in since["newFindings"])
    summary = (tmp_path / "2027" / "audit.md").read_text()
    assert "| rialto-prod | VIOLATED | verdict was COMPLIANT" in summary
    assert (tmp_path / "2027" / "rialto-prod.json").is_file()


def test_a_previous_audit_that_is_no_folder_is_one_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "audit", "rialto-prod", "--out", str(tmp_path / "new"),
                                 "--previous", str(tmp_path / "missing")])  # fmt: skip
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "previous audit is a folder" in result.stderr
    assert not (tmp_path / "new").exists()
