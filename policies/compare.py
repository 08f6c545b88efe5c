"""What changed since the last audit: this check against a previous JSON report (`--previous REPORT.json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opcloud.errors import InputError


@dataclass
class Comparison:
    previous_verdict: str
    previous_commit: str | None
    previous_generated: str | None
    verdict_changed: bool
    rules: list[dict[str, str]] = field(default_factory=list)  # rule, before, after
    findings_new: list[dict[str, str]] = field(default_factory=list)  # rule, resource, kind, message
    findings_gone: list[dict[str, str]] = field(default_factory=list)
    inputs_changed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.verdict_changed or self.rules or self.findings_new or self.findings_gone)

    def to_json(self) -> dict[str, Any]:
        return {
            "previousVerdict": self.previous_verdict,
            "previousCommit": self.previous_commit,
            "previousGenerated": self.previous_generated,
            "verdictChanged": self.verdict_changed,
            "rules": self.rules,
            "newFindings": self.findings_new,
            "resolvedFindings": self.findings_gone,
            "inputsChanged": self.inputs_changed,
        }


def load_previous(path: Path) -> dict[str, Any]:
    """A previous report written by `stack check --report FILE.json` (or `--json`); one-line errors."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not a JSON report ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list) or "verdict" not in data:
        raise InputError(f"{path}: not a report of `opcloud stack check` (no verdict and rules)")
    return data


def _findings(report: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, str]]:
    found = {}
    for rule in report["rules"]:
        for kind in ("violations", "unevaluated", "passed"):
            for f in rule.get(kind, []):
                entry = {
                    "rule": str(rule["rule"]),
                    "resource": str(f.get("resource") or "stack"),
                    "kind": kind,
                    "message": str(f.get("message", "")),
                }
                found[(entry["rule"], entry["resource"], kind, entry["message"])] = entry
    return found


def compare(current: dict[str, Any], previous: dict[str, Any]) -> Comparison:
    """Both reports as JSON: verdict, rule statuses, findings (by rule, resource, kind, message), inputs."""
    before = {str(r["rule"]): str(r.get("status")) for r in previous["rules"]}
    after = {str(r["rule"]): str(r.get("status")) for r in current["rules"]}
    rules = [
        {"rule": name, "before": before.get(name, "absent"), "after": after.get(name, "absent")}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    old, new = _findings(previous), _findings(current)
    prev_provenance = previous.get("provenance") or {}
    prev_inputs = prev_provenance.get("inputs") or {}
    inputs = (current.get("provenance") or {}).get("inputs") or {}
    return Comparison(
        previous_verdict=str(previous["verdict"]),
        previous_commit=prev_provenance.get("commit"),
        previous_generated=(previous.get("generated") or {}).get("at"),
        verdict_changed=previous["verdict"] != current["verdict"],
        rules=rules,
        findings_new=[new[k] for k in sorted(set(new) - set(old))],
        findings_gone=[old[k] for k in sorted(set(old) - set(new))],
        inputs_changed=sorted(
            name for name in set(inputs) | set(prev_inputs) if inputs.get(name) != prev_inputs.get(name)
        ),
    )
