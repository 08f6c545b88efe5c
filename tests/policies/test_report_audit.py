"""The audit report: provenance, stable order, N/A reasons, links, key-named model errors, `--previous`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from opcloud.policies.report import to_html, to_markdown
from opcloud.stacks.synth import Manifest
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import stack_file
from tests.policies.conftest import check

Synth = Callable[[str], Manifest]
runner = CliRunner()


def _without_timestamp(text: str) -> str:
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "<time>", text)


def test_report_order_does_not_depend_on_declaration_order(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-sale-prod")
    reversed_manifest = synthesized("prozorro-sale-prod")
    reversed_manifest.resources.reverse()
    first, second = check(manifest), check(reversed_manifest)
    assert _without_timestamp(to_markdown(first)) == _without_timestamp(to_markdown(second))
    assert _without_timestamp(to_html(first)) == _without_timestamp(to_html(second))


def test_two_runs_give_identical_reports_modulo_timestamp(tmp_path: Path) -> None:
    for suffix in ("md", "html", "json"):
        texts = []
        for run in ("a", "b"):
            out = tmp_path / f"{run}.{suffix}"
            runner.invoke(app, ["stack", "check", "prozorro-ua-prod", "--report", str(out)])
            text = out.read_text()
            if suffix == "json":
                data = json.loads(text)
                data.pop("generated")
                text = json.dumps(data)
            texts.append(_without_timestamp(text))
        assert texts[0] == texts[1], suffix


def test_report_carries_provenance_reasons_and_links(tmp_path: Path) -> None:
    md, page, raw = tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.json"
    for out in (md, page, raw):
        runner.invoke(app, ["stack", "check", "prozorro-ua-prod", "--report", str(out)])
    digest = hashlib.sha256(stack_file("prozorro-ua-prod").read_bytes()).hexdigest()
    data = json.loads(raw.read_text())
    provenance = data["provenance"]
    assert provenance["version"] and re.fullmatch(r"[0-9a-f]{40}|unknown", provenance["commit"])
    assert provenance["inputs"]["environments/Pulumi.prozorro-ua-prod.yaml"] == digest
    text, html = md.read_text(), page.read_text()
    for rendered in (text, html):
        assert digest in rendered and provenance["commit"] in rendered
        assert "a VM-only cloud has no managed key service" in rendered  # the N/A reason of key-rotation
        assert "Verdict" in rendered and data["verdict"] in rendered and data["verdict"] == "COMPLIANT"
    for target in re.findall(r"\]\(#([a-z0-9-]+)\)", text):
        assert f'<a id="{target}"></a>' in text, target
    for target in re.findall(r'href="#([a-z0-9-]+)"', html):
        assert f'id="{target}"' in html, target
    assert len(re.findall(r'href="#', html)) >= 2 * len(data["rules"])


def _unprotected_rialto(tmp_path: Path) -> Path:
    text = stack_file("rialto-prod").read_text()
    text = text.replace("  opcloud:database:\n", "  opcloud:database:\n    deletionProtection: false\n")
    folder = tmp_path / "later"
    folder.mkdir()
    path = folder / "Pulumi.rialto-prod.yaml"
    path.write_text(text)
    return path


def test_previous_report_comparison_in_every_format(tmp_path: Path) -> None:
    previous = tmp_path / "last-audit.json"
    assert runner.invoke(app, ["stack", "check", "rialto-prod", "--report", str(previous)]).exit_code == 0
    later = _unprotected_rialto(tmp_path)
    outputs = {suffix: tmp_path / f"now.{suffix}" for suffix in ("md", "html", "json")}
    for out in outputs.values():
        result = runner.invoke(app, ["stack", "check", str(later), "--previous", str(previous), "--report", str(out)])
        assert result.exit_code == 1
    assert "Since the previous audit" in result.output and "deletion-protection: passed -> violated" in result.output
    since = json.loads(outputs["json"].read_text())["sinceLastAudit"]
    assert since["previousVerdict"] == "COMPLIANT" and since["verdictChanged"] is True
    assert {"rule": "deletion-protection", "before": "passed", "after": "violated"} in since["rules"]
    assert any(f["rule"] == "deletion-protection" and f["kind"] == "violations" for f in since["newFindings"])
    assert any(name.endswith("Pulumi.rialto-prod.yaml") for name in since["inputsChanged"])
    for suffix in ("md", "html"):
        rendered = outputs[suffix].read_text().replace("-&gt;", "->").replace("-\\>", "->")
        assert "Since the previous audit" in rendered and "deletion-protection: passed -> violated" in rendered


def test_previous_that_is_not_a_report_exits_2_in_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{not json")
    result = runner.invoke(app, ["stack", "check", "rialto-prod", "--previous", str(bogus)])
    assert result.exit_code == 2 and "not a JSON report" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_model_level_error_names_its_key(tmp_path: Path) -> None:
    text = stack_file("rialto-prod").read_text().replace("copyRegion: eu-north-1", "copyRegion: eu-west-1")
    path = tmp_path / "Pulumi.same-region.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["stack", "check", str(path)])
    assert result.exit_code == 2
    assert "opcloud:backup.copyRegion: must differ from the primary region" in " ".join(result.output.split())
    assert "opcloud::" not in result.output
