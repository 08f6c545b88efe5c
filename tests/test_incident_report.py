"""`opcloud report incident`: the three-hour incident report with every field the operators' rules list."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from opcloud.cli import app

FIELDS = {
    "platform": "ProZorro",
    "detectedAt": "2026-12-01T09:40:00+02:00",
    "description": "The public API answered 503 for 14 minutes.",
    "propertiesViolated": ["availability"],
    "origin": "external",
    "causes": ["a flood of requests from one network"],
    "criticality": "high",
    "module": "public API",
    "actionsTaken": ["blocked the network at the balancers", "scaled the API hosts"],
}


def test_report_from_a_file_has_every_field_and_its_deadline(tmp_path: Path) -> None:
    source = tmp_path / "incident.yaml"
    source.write_text(yaml.safe_dump(FIELDS))
    out = tmp_path / "reports" / "incident.md"
    result = CliRunner().invoke(app, ["report", "incident", "--from", str(source), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {key: data[key] for key in FIELDS} == FIELDS
    assert data["dueAt"] == "2026-12-01T12:40:00+02:00"  # three hours after detection
    text = out.read_text()
    for shown in ("ProZorro", "2026-12-01T09:40:00+02:00", "availability", "external", "high", "public API",
                  "a flood of requests", "scaled the API hosts", "2026-12-01T12:40:00+02:00"):  # fmt: skip
        assert shown in text, shown


def test_options_override_the_file_and_no_cause_is_said_so(tmp_path: Path) -> None:
    source = tmp_path / "incident.json"
    source.write_text(json.dumps({**FIELDS, "causes": []}))
    result = CliRunner().invoke(app, ["report", "incident", "--from", str(source), "--criticality", "critical"])
    assert result.exit_code == 0, result.output
    assert "**Criticality:** critical" in result.stdout and "under investigation" in result.stdout


def test_every_bad_field_is_named_at_once_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "incident.md"
    result = CliRunner().invoke(app, ["report", "incident", "--platform", "P", "--violated", "secrecy",
                                      "--detected-at", "2026-12-01T09:40", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: incident: ") for line in lines)
    named = " ".join(lines)
    for field in ("detectedAt", "description", "propertiesViolated", "origin", "criticality", "module",
                  "actionsTaken"):  # fmt: skip
        assert f"incident: {field}" in named, field
    assert not out.exists()
