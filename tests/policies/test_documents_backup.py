"""An IaaS documents share passes backup-coverage and backup-geo-copy only through a restic step that reads its
mount and keeps its repository on a share served from another site, by address; environments that cannot
give it one are refused by the model, naming the key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from opcloud.policies.check import RuleResult
from opcloud.stacks.synth import Manifest
from typer.testing import CliRunner

from opcloud.cli import app
from tests.policies.conftest import check

Synth = Callable[[str], Manifest]
ENVIRONMENTS = Path(__file__).parent / "environments"
RULES = ("backup-coverage", "backup-geo-copy")


def _results(manifest: Manifest) -> dict[str, RuleResult]:
    return {r.rule.name: r for r in check(manifest).results}


def _documents_findings(manifest: Manifest, rule: str) -> list[tuple[bool | None, str]]:
    findings = _results(manifest)[rule].findings
    return [(f.ok if f.evaluated else None, f.message) for f in findings if "documents share" in f.message]


def _set(manifest: Manifest, kind: str, host: str, name: str | None = None, **spec: object) -> None:
    for i, r in enumerate(manifest.resources):
        same_share = name is None or r.inputs.get("spec", {}).get("share") == name
        if r.inputs.get("kind") == kind and r.inputs.get("host") == host and same_share:
            manifest.resources[i] = replace(r, inputs={**r.inputs, "spec": {**r.inputs["spec"], **spec}})
            return
    raise LookupError((kind, host, name))


@pytest.mark.parametrize("stack", ["prozorro-ua-prod", "prozorro-ua-staging", "mtender-md-prod"])
def test_shipped_documents_shares_pass_both_rules(stack: str, synthesized: Synth) -> None:
    manifest = synthesized(stack)
    for rule in RULES:
        findings = _documents_findings(manifest, rule)
        assert findings and all(ok is True for ok, _ in findings), (rule, findings)


def test_no_restic_step_is_a_violation(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    manifest.resources = [r for r in manifest.resources if r.inputs.get("kind") != "documents-backup"]
    for rule in RULES:
        assert _results(manifest)[rule].status == "violated"
        assert any("no restic backup step" in m for ok, m in _documents_findings(manifest, rule) if ok is False)


def test_repository_share_served_from_the_primary_site_is_caught_by_address(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    _set(manifest, "nfs-mount", "docs-1", "backups", server="10.60.250.30")  # a Kyiv-1 filer, whatever the label
    for rule in RULES:
        assert _results(manifest)[rule].status == "violated"
        assert any("own site denovo-kyiv-1" in m for ok, m in _documents_findings(manifest, rule) if ok is False)


def test_repository_off_the_backup_share_is_a_violation(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    _set(manifest, "documents-backup", "docs-1", repository="/var/backups/restic/documents")
    assert _results(manifest)["backup-coverage"].status == "violated"
    assert any("not on a mounted backup share" in m for _, m in _documents_findings(manifest, "backup-coverage"))


def test_backup_that_reads_another_path_is_a_violation(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    _set(manifest, "documents-backup", "docs-1", source="/srv/elsewhere")
    assert _results(manifest)["backup-coverage"].status == "violated"


def test_backup_timer_that_is_not_daily_is_a_violation(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    for i, r in enumerate(manifest.resources):
        if r.inputs.get("kind") == "documents-backup":
            files = {
                p: t.replace("OnCalendar=*-*-*", "OnCalendar=Sun *-*-*") for p, t in r.inputs["spec"]["files"].items()
            }
            manifest.resources[i] = replace(r, inputs={**r.inputs, "spec": {**r.inputs["spec"], "files": files}})
    assert _results(manifest)["backup-coverage"].status == "violated"
    assert any("every day" in m for _, m in _documents_findings(manifest, "backup-coverage"))


def test_repository_share_at_an_unregistered_address_is_incomplete(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    _set(manifest, "nfs-mount", "docs-1", "backups", server="10.99.250.20")
    result = check(manifest)
    coverage = next(r for r in result.results if r.rule.name == "backup-coverage")
    assert coverage.status == "incomplete" and result.verdict != "COMPLIANT"
    assert any("10.99.250.20" in f.message for f in coverage.unevaluated)


def test_short_restic_retention_is_a_violation(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-ua-prod")
    for i, r in enumerate(manifest.resources):
        if r.inputs.get("kind") == "documents-backup":
            files = {p: t.replace("--keep-daily 35", "--keep-daily 7") for p, t in r.inputs["spec"]["files"].items()}
            manifest.resources[i] = replace(r, inputs={**r.inputs, "spec": {**r.inputs["spec"], "files": files}})
    retention = _results(manifest)["backup-retention"]
    assert retention.status == "violated"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ua-docs-host-without-backup-share", "opcloud:inventory.nfs[0].hosts"),
        ("ua-docs-backup-without-password", "opcloud:inventory.nfs[0].backupPassword"),
        ("ua-docs-backup-share-on-primary-filer", "opcloud:inventory.nfs[2].server"),
    ],
)
def test_violating_environment_is_refused_naming_the_key(name: str, key: str) -> None:
    result = CliRunner().invoke(app, ["stack", "check", str(ENVIRONMENTS / f"Pulumi.{name}.yaml")])
    assert result.exit_code == 2, result.output
    assert f": {key}: " in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
