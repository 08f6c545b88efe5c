"""The compliance report: for each ISO/IEC 27001 control, the rules, their evidence and their violations.

Renderings of one `CheckResult`: the terminal (rich), Markdown, a self-contained HTML page an auditor can be
handed, and JSON (the input of the next audit's `--previous`). Each carries the verdict, the provenance (tool
version, commit, sha256 of every input), the reason of every "not applicable" or "not evaluated", links from
the summary to each control's section, and what changed since the previous audit. Findings are in a stable
order, so two runs differ only in their timestamp. Every value from the stack is escaped: names and messages
are data.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opcloud.policies.check import CheckResult, RuleResult
from opcloud.policies.compare import Comparison
from opcloud.policies.levels import eight_levels, shows_levels
from opcloud.policies.model import CONTROLS, FRAMEWORK, FRAMEWORK_VERSION, Control, Enforcement
from rich.console import Console
from rich.markup import escape as rich_escape

from opcloud.errors import InputError
from opcloud.paths import require_writable_file
from opcloud.progress import plural

_ICON = {"passed": "PASS", "violated": "FAIL", "incomplete": "INCOMPLETE", "not-applicable": "N/A"}
_STYLE = {"passed": "green", "violated": "red", "incomplete": "yellow", "not-applicable": "dim"}


def by_control(result: CheckResult) -> Iterator[tuple[Control, list[RuleResult]]]:
    """The rule results grouped by control, in the catalogue's order."""
    for control in CONTROLS:
        rules = [r for r in result.results if r.rule.control == control]
        if rules:
            yield control, rules


def anchor(text: str) -> str:
    """A stable fragment id for a control or rule: `A.8.13` -> `a-8-13`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _summary(result: CheckResult) -> str:
    counts = result.counts
    return (
        f"{result.verdict}: {counts['passed']} rules passed, {counts['violated']} violated "
        f"({len(result.mandatory_violations)} mandatory violations), {counts['incomplete']} not evaluated "
        f"({len(result.mandatory_incomplete)} mandatory), {counts['not-applicable']} not applicable; "
        f"{plural(result.resource_count, 'resource')} checked"
    )


def _context_line(result: CheckResult) -> str:
    ctx = result.context
    copy = ctx.copy_region or ("zone-redundant" if ctx.geo_redundancy == "zones" else "none")
    return (
        f"jurisdiction {ctx.jurisdiction or '?'}"
        + (f" (primary pinned to {ctx.primary_jurisdiction})" if ctx.primary_jurisdiction else "")
        + f", environment {ctx.environment or '?'}, cloud {ctx.cloud or '?'}, "
        f"region {ctx.region or '?'}, backup copy {copy}"
    )


def _provenance_lines(result: CheckResult) -> list[str]:
    p = result.provenance
    if not p:
        return ["provenance: not recorded (checked from a manifest)"]
    dirty = " (uncommitted changes)" if p.get("dirty") else ""
    lines = [f"tool: {p.get('tool')} {p.get('version')}, commit {p.get('commit')}{dirty}"]
    lines += [f"sha256 {digest}  {name}" for name, digest in sorted((p.get("inputs") or {}).items())]
    return lines


def _comparison_lines(comparison: Comparison) -> list[str]:
    lines = [
        f"previous audit: {comparison.previous_verdict} (generated {comparison.previous_generated or '?'}, "
        f"commit {comparison.previous_commit or '?'})"
    ]
    if comparison.unchanged:
        lines.append("no change in the verdict, the rules or their findings")
    lines += [f"rule {r['rule']}: {r['before']} -> {r['after']}" for r in comparison.rules]
    lines += [f"new {f['kind']}: {f['rule']}: {f['resource']}: {f['message']}" for f in comparison.findings_new]
    lines += [f"gone {f['kind']}: {f['rule']}: {f['resource']}: {f['message']}" for f in comparison.findings_gone]
    lines += [f"input changed: {name}" for name in comparison.inputs_changed]
    return lines


# ------------------------------------------------------------------------------------------------ terminal


def print_report(result: CheckResult, console: Console, levels: bool = False) -> None:
    console.print(f"[bold]Compliance of stack {rich_escape(result.stack)}[/] ({rich_escape(_context_line(result))})")
    for line in _provenance_lines(result):
        console.print(f"[dim]{rich_escape(line)}[/]")
    for control, rules in by_control(result):
        console.print(f"\n[bold]{control.id} {rich_escape(control.title)}[/]")
        for rule_result in rules:
            rule = rule_result.rule
            status = rule_result.status
            level = "" if rule.enforcement is Enforcement.MANDATORY else " (advisory)"
            evidence = f", {plural(len(rule_result.passes), 'resource')}" if rule_result.passes else ""
            console.print(f"  [{_STYLE[status]}]{_ICON[status]:4}[/] {rule.name}{level}{evidence}")
            if rule_result.reason:
                console.print(f"       [dim]{rich_escape(rule_result.reason)}[/]")
            for finding in [*rule_result.violations, *rule_result.unevaluated]:
                where = finding.resource or "stack"
                console.print(f"       [red]-[/] {rich_escape(where)}: {rich_escape(finding.message)}")
    if levels or shows_levels(result):
        print_levels(result, console)
    if result.comparison is not None:
        console.print("\n[bold]Since the previous audit[/]")
        for line in _comparison_lines(result.comparison):
            console.print(f"  {rich_escape(line)}")
    style = "green" if result.ok else "red"
    console.print(f"\n[bold {style}]{rich_escape(_summary(result))}[/]")


_LEVEL_STYLE = {
    "passed": "green",
    "passed, with advisory findings": "green",
    "violated": "red",
    "incomplete": "yellow",
    "provider": "cyan",
    "no rule": "dim",
}


def print_levels(result: CheckResult, console: Console) -> None:
    """MTender's eight levels of defence in depth, each with the rules that evidence it."""
    console.print("\n[bold]Defence in depth (MTender's eight levels)[/]")
    for number, level in enumerate(eight_levels(result), start=1):
        style = _LEVEL_STYLE[level.status]
        console.print(f"  {number}. [bold]{rich_escape(level.name)}[/]: [{style}]{level.status}[/]")
        if level.provider is not None:
            console.print(f"       [dim]{rich_escape(level.provider)}[/]")
        names = ", ".join(f"{r.rule.name} ({r.status})" for r in level.rules)
        if names:
            console.print(f"       [dim]{rich_escape(names)}[/]")


def levels_markdown(result: CheckResult) -> list[str]:
    lines = ["", "## Defence in depth (MTender's eight levels)", ""]
    for number, level in enumerate(eight_levels(result), start=1):
        evidence = level.provider or ", ".join(f"{r.rule.name} ({r.status})" for r in level.rules) or "no rule"
        lines.append(f"{number}. **{_md(level.name)}**: {level.status} - {_md(evidence)}")
    return lines


# ------------------------------------------------------------------------------------------------ Markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_code(text: str) -> str:
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def to_markdown(result: CheckResult) -> str:
    lines = [
        f"# Compliance report: stack {_md(result.stack)}",
        "",
        f"- Verdict: **{result.verdict}**",
        f"- Framework: {FRAMEWORK}:{FRAMEWORK_VERSION} Annex A, and the data-residency law of the jurisdiction",
        f"- Stack: {_md(_context_line(result))}",
        f"- Generated: {result.generated_at} by `opcloud stack check` "
        "(offline, on the synthesized resource manifest; the same rules run in `pulumi preview --policy-pack`)",
        *[f"- {_md(line)}" for line in _provenance_lines(result)],
        f"- Result: **{_md(_summary(result))}**",
        "",
        "| Control | Rule | Enforcement | Severity | Status |",
        "|---|---|---|---|---|",
    ]
    for control, rules in by_control(result):
        for r in rules:
            lines.append(
                f"| [{control.id}](#{anchor(control.id)}) | [{r.rule.name}](#{anchor(r.rule.name)}) | "
                f"{r.rule.enforcement.value} | {r.rule.severity.value} | {_ICON[r.status]} |"
            )
    if result.comparison is not None:
        lines += ["", "## Since the previous audit", ""]
        lines += [f"- {_md(line)}" for line in _comparison_lines(result.comparison)]
    for control, rules in by_control(result):
        lines += ["", f'<a id="{anchor(control.id)}"></a>', "", f"## {control.id} {_md(control.title)}"]
        for r in rules:
            rule = r.rule
            lines += [
                "",
                f'<a id="{anchor(rule.name)}"></a>',
                "",
                f"### {rule.name}: {_ICON[r.status]}",
                "",
                f"{_md(rule.description)} ({rule.enforcement.value}, severity {rule.severity.value})",
                "",
            ]
            if r.status == "not-applicable":
                lines.append(f"Not applicable: {_md(r.reason or '')}")
            elif r.reason:
                lines.append(f"Not evaluated: {_md(r.reason)}")
            if r.violations:
                lines.append("Violations:")
                lines += [f"- {_md_code(f.resource or 'stack')}: {_md(f.message)}" for f in r.violations]
                lines += ["", f"Remediation: {_md(rule.remediation)}", ""]
            if r.unevaluated:
                lines.append("Not evaluated:")
                lines += [f"- {_md_code(f.resource or 'stack')}: {_md(f.message)}" for f in r.unevaluated]
                lines.append("")
            if r.passes:
                lines.append("Evidence:")
                lines += [f"- {_md_code(f.resource or 'stack')}: {_md(f.message)}" for f in r.passes]
    if shows_levels(result):
        lines += levels_markdown(result)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.passed{color:#176f2c}.violated{color:#b00020;font-weight:bold}.incomplete{color:#a15c00;font-weight:bold}
.not-applicable{color:#777}code{background:#f4f4f4;padding:0 .2em}h2{border-bottom:2px solid #ddd;margin-top:2em}
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _items(findings: list, css: str) -> str:
    rows = "".join(f"<li><code>{_h(f.resource or 'stack')}</code>: {_h(f.message)}</li>" for f in findings)
    return f'<ul class="{css}">{rows}</ul>'


def _list(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_h(line)}</li>" for line in lines) + "</ul>"


def to_html(result: CheckResult) -> str:
    status_class = {"COMPLIANT": "passed", "INCOMPLETE": "incomplete", "VIOLATED": "violated"}[result.verdict]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Compliance report: {_h(result.stack)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Compliance report: stack {_h(result.stack)}</h1>",
        f'<p class="{status_class}">Verdict: {_h(result.verdict)}</p>',
        f"<p>Framework: {_h(FRAMEWORK)}:{_h(FRAMEWORK_VERSION)} Annex A, and the data-residency law of the "
        f"jurisdiction.<br>Stack: {_h(_context_line(result))}<br>Generated "
        f"{_h(result.generated_at)} by <code>opcloud stack check</code>.</p>",
        _list(_provenance_lines(result)),
        f'<p class="{status_class}">{_h(_summary(result))}</p>',
        "<table><tr><th>Control</th><th>Rule</th><th>Enforcement</th><th>Severity</th><th>Status</th></tr>",
    ]
    for control, rules in by_control(result):
        for r in rules:
            parts.append(
                f'<tr><td><a href="#{anchor(control.id)}">{_h(control.id)}</a></td>'
                f'<td><a href="#{anchor(r.rule.name)}">{_h(r.rule.name)}</a></td>'
                f"<td>{_h(r.rule.enforcement.value)}</td>"
                f'<td>{_h(r.rule.severity.value)}</td><td class="{r.status}">{_ICON[r.status]}</td></tr>'
            )
    parts.append("</table>")
    if result.comparison is not None:
        parts.append("<h2>Since the previous audit</h2>" + _list(_comparison_lines(result.comparison)))
    for control, rules in by_control(result):
        parts.append(f'<h2 id="{anchor(control.id)}">{_h(control.id)} {_h(control.title)}</h2>')
        for r in rules:
            rule = r.rule
            parts.append(
                f'<h3 id="{anchor(rule.name)}">{_h(rule.name)}: <span class="{r.status}">{_ICON[r.status]}</span></h3>'
            )
            parts.append(
                f"<p>{_h(rule.description)} ({_h(rule.enforcement.value)}, severity {_h(rule.severity.value)})</p>"
            )
            if r.status == "not-applicable":
                parts.append(f'<p class="not-applicable">Not applicable: {_h(r.reason or "")}</p>')
            elif r.reason:
                parts.append(f'<p class="incomplete">Not evaluated: {_h(r.reason)}</p>')
            if r.violations:
                parts.append("<p>Violations:</p>" + _items(r.violations, "violated"))
                parts.append(f"<p>Remediation: {_h(rule.remediation)}</p>")
            if r.unevaluated:
                parts.append("<p>Not evaluated:</p>" + _items(r.unevaluated, "incomplete"))
            if r.passes:
                parts.append("<p>Evidence:</p>" + _items(r.passes, "passed"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def result_json(result: CheckResult) -> dict[str, Any]:
    """The check as JSON, with MTender's eight-level view beside the controls."""
    return {**result.to_json(), "levels": [level.to_json() for level in eight_levels(result)]}


def to_json_text(result: CheckResult) -> str:
    return json.dumps(result_json(result), indent=2, sort_keys=False) + "\n"


REPORT_SUFFIXES = (".md", ".html", ".htm", ".json")


def require_report_path(path: Path) -> None:
    """A report path opcloud can write, refused before the slow synth and check."""
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise InputError(f"{path}: a report is FILE.md, FILE.html or FILE.json")
    require_writable_file(path, "report")


def write_report(result: CheckResult, path: Path) -> None:
    """Write the Markdown (.md), HTML (.html/.htm) or JSON (.json) report; the suffix picks the format."""
    require_report_path(path)
    suffix = path.suffix.lower()
    if suffix == ".md":
        text = to_markdown(result)
    elif suffix == ".json":
        text = to_json_text(result)
    else:
        text = to_html(result)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: {error.strerror}") from None
