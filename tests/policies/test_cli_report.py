"""`opcloud stack check`: exit codes, JSON, reports; and the report's escaping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opcloud.policies.check import CheckResult, RuleResult
from opcloud.policies.model import Finding
from opcloud.policies.report import to_html, to_markdown
from opcloud.policies.rules.public_access import database_not_public
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import stack_file
from tests.policies.conftest import EU_AWS

runner = CliRunner()


def test_check_json_on_a_compliant_stack(tmp_path: Path) -> None:
    result = runner.invoke(app, ["stack", "check", "prozorro-sale-prod", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["stack"] == "prozorro-sale-prod"
    rules = {r["rule"]: r for r in data["rules"]}
    assert rules["data-residency"]["control"] == "A.5.34" and rules["data-residency"]["status"] == "passed"
    assert rules["data-residency"]["passed"], "evidence lists the resources that satisfied the rule"


def test_check_writes_markdown_and_html_reports(tmp_path: Path) -> None:
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    assert runner.invoke(app, ["stack", "check", "rialto-prod", "--report", str(md)]).exit_code == 0
    assert runner.invoke(app, ["stack", "check", "rialto-prod", "--report", str(page)]).exit_code == 0
    text = md.read_text()
    assert "## A.8.13 Information backup" in text and "Evidence:" in text and "COMPLIANT" in text
    assert page.read_text().startswith("<!DOCTYPE html>") and "A.8.24" in page.read_text()


def test_bad_report_suffix_and_unknown_stack_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["stack", "check", "rialto-prod", "--report", str(tmp_path / "r.pdf")])
    assert result.exit_code == 2 and "FILE.md, FILE.html or FILE.json" in result.output
    assert runner.invoke(app, ["stack", "check", "atlantis-prod"]).exit_code == 2


def test_environment_with_a_backup_copy_abroad_is_refused(tmp_path: Path) -> None:
    text = stack_file("prozorro-sale-prod").read_text().replace("copyRegion: eu-central-1", "copyRegion: us-east-1")
    broken = tmp_path / "Pulumi.broken-prod.yaml"
    broken.write_text(text)
    result = runner.invoke(app, ["stack", "check", str(broken)])
    assert result.exit_code == 2 and "outside jurisdiction EU" in result.output


def test_violation_exits_1(tmp_path: Path) -> None:
    text = stack_file("rialto-prod").read_text().replace("copyRegion: eu-north-1", "copyRegion: eu-north-1\n")
    text = text.replace("  opcloud:database:\n", "  opcloud:database:\n    deletionProtection: false\n")
    broken = tmp_path / "Pulumi.rialto-unprotected.yaml"
    broken.write_text(text)
    result = runner.invoke(app, ["stack", "check", str(broken), "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    violated = {r["rule"] for r in data["rules"] if r["status"] == "violated"}
    assert "deletion-protection" in violated and data["summary"]["mandatoryViolations"] >= 1


def _hostile_result() -> CheckResult:
    finding = Finding(
        "database-not-public", False, "<script>alert(1)</script> | **x**", "urn:x", "aws:rds db<img src=x>", "t"
    )
    return CheckResult("s<b>", EU_AWS, [RuleResult(database_not_public, [finding])], 1)


def test_html_report_escapes_every_value() -> None:
    page = to_html(_hostile_result())
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
    assert "s&lt;b&gt;" in page


def test_markdown_report_escapes_table_and_emphasis() -> None:
    text = to_markdown(_hostile_result())
    assert "\\| \\*\\*x\\*\\*" in text and "\\<script\\>" in text
    assert "VIOLATED" in text


def test_a_bad_report_path_is_refused_before_the_synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opcloud.cli import check as check_cli

    def no_check(*args: object) -> None:
        raise AssertionError("synthesized before checking --report")

    monkeypatch.setattr(check_cli, "check_stack", no_check)
    (tmp_path / "folder.md").mkdir()
    for bad, why in ((tmp_path / "r.txt", "FILE.md, FILE.html or FILE.json"), (tmp_path / "folder.md", "directory")):
        result = runner.invoke(app, ["stack", "check", "rialto-prod", "--report", str(bad)])
        assert result.exit_code == 2 and why in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
