"""The yearly internal audit: every stack checked, each compared with the previous audit, in one folder.

ProZorro's operators produce an internal audit report every year that takes the earlier ones into account. An
audit folder holds one JSON report per stack (the full `stack check` result, with provenance) and `audit.md`,
the summary: each stack's verdict, and what changed since the previous audit folder given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opcloud.policies.check import CheckResult, check_stack
from opcloud.policies.report import to_json_text

from opcloud.config.environment import open_stack
from opcloud.errors import InputError


@dataclass
class AuditEntry:
    stack: str
    result: CheckResult
    previous_found: bool


def run_audit(stacks: list[str], out: Path, previous: Path | None) -> list[AuditEntry]:
    """Check every stack, compare each with `previous/<stack>.json` when there is one, write the folder."""
    if previous is not None and not previous.is_dir():
        raise InputError(f"{previous}: the previous audit is a folder written by `opcloud report audit`")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: not a folder")
    if previous is not None and out.resolve() == previous.resolve():
        raise InputError(f"{out}: write the new audit to another folder than the previous one")
    entries = []
    for env in stacks:
        stack = open_stack(env).stack  # a name, or a Pulumi.<stack>.yaml path
        earlier = previous / f"{stack}.json" if previous is not None else None
        found = earlier is not None and earlier.is_file()
        _, result = check_stack(env, earlier if found else None)
        entries.append(AuditEntry(stack, result, found))
    out.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        (out / f"{entry.stack}.json").write_text(to_json_text(entry.result), encoding="utf-8")
    (out / "audit.md").write_text(summary_markdown(entries, previous), encoding="utf-8")
    return entries


def summary_markdown(entries: list[AuditEntry], previous: Path | None) -> str:
    lines = ["# Internal audit of the platform stacks", ""]
    lines.append(f"Compared with the previous audit in `{previous}`." if previous else "No previous audit given.")
    lines += ["", "| stack | verdict | since the previous audit |", "|---|---|---|"]
    for entry in entries:
        comparison = entry.result.comparison
        if not entry.previous_found:
            since = "no earlier report of this stack"
        elif comparison is None or comparison.unchanged:
            since = "unchanged"
        else:
            parts = []
            if comparison.verdict_changed:
                parts.append(f"verdict was {comparison.previous_verdict}")
            if comparison.rules:
                parts.append(f"{len(comparison.rules)} rule(s) changed status")
            if comparison.findings_new:
                parts.append(f"{len(comparison.findings_new)} new finding(s)")
            if comparison.findings_gone:
                parts.append(f"{len(comparison.findings_gone)} finding(s) resolved")
            since = "; ".join(parts)
        lines.append(f"| {entry.stack} | {entry.result.verdict} | {since} |")
    lines += ["", "Each stack's full report, with its provenance, is `<stack>.json` beside this file."]
    return "\n".join(lines) + "\n"
