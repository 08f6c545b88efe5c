"""The offline checker: synth a stack, view its manifest, run every rule, collect a result per rule."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from opcloud.policies import context as contexts
from opcloud.policies.compare import Comparison, compare, load_previous
from opcloud.policies.model import Enforcement, Finding, ResourceView, Rule, StackContext, StackView
from opcloud.policies.provenance import provenance
from opcloud.policies.rules import ALL_RULES
from opcloud.stacks.mocks import mocks_of_type
from opcloud.stacks.synth import Manifest, ManifestResource, synth

from opcloud.config.environment import open_stack
from opcloud.jsonstyle import camel

Status = Literal["passed", "violated", "incomplete", "not-applicable"]
STATUSES: tuple[Status, ...] = ("passed", "violated", "incomplete", "not-applicable")
Verdict = Literal["COMPLIANT", "INCOMPLETE", "VIOLATED"]

# Inputs naming a resource, which other resources use to point at it.
_NAME_KEYS = ("bucket", "name", "accountName", "serverName", "vaultName", "workspaceName", "identifier", "keyName")


def aliases_of(resource: ManifestResource) -> frozenset[str]:
    """Values the synth mocks hand out for this resource: `<name>-id`, the mock ARN, its names."""
    aliases = {resource.urn, resource.name, f"{resource.name}-id"}
    aliases |= mocks_of_type(resource.type).aliases(resource.type, resource.name)
    for key in _NAME_KEYS:
        value = resource.inputs.get(key)
        if isinstance(value, str) and value:
            aliases.add(value)
    return frozenset(aliases)


def views_of(manifest: Manifest) -> list[ResourceView]:
    return [
        ResourceView(urn=r.urn, type=r.type, name=r.name, props=r.inputs, parent=r.parent, aliases=aliases_of(r))
        for r in manifest.resources
    ]


def _finding_order(finding: Finding) -> tuple[str, str, str]:
    return (finding.resource or "", finding.urn or "", finding.message)


@dataclass
class RuleResult:
    """A rule's findings, in a stable order, and why it had nothing to judge (if the kind cannot exist)."""

    rule: Rule
    findings: list[Finding] = field(default_factory=list)
    not_applicable_reason: str | None = None

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings, key=_finding_order)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.violation]

    @property
    def passes(self) -> list[Finding]:
        return [f for f in self.findings if f.evaluated and f.ok]

    @property
    def unevaluated(self) -> list[Finding]:
        return [f for f in self.findings if not f.evaluated]

    @property
    def status(self) -> Status:
        if self.violations:
            return "violated"
        if self.unevaluated:
            return "incomplete"
        if self.passes:
            return "passed"
        return "not-applicable" if self.not_applicable_reason else "incomplete"

    @property
    def reason(self) -> str | None:
        """Why the rule is not applicable or incomplete, for the report."""
        if self.status == "not-applicable":
            return self.not_applicable_reason
        if self.status == "incomplete" and not self.findings:
            return "no resource this rule covers was found, so it could not be evaluated"
        return None

    def to_json(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "rule": rule.name,
            "description": rule.description,
            "control": rule.control.id,
            "controlTitle": rule.control.title,
            "severity": rule.severity.value,
            "enforcement": rule.enforcement.value,
            "remediation": rule.remediation,
            "status": self.status,
            "reason": self.reason,
            "passed": [f.to_json() for f in self.passes],
            "violations": [f.to_json() for f in self.violations],
            "unevaluated": [f.to_json() for f in self.unevaluated],
        }


@dataclass
class CheckResult:
    stack: str
    context: StackContext
    results: list[RuleResult]
    resource_count: int
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    comparison: Comparison | None = None

    @property
    def mandatory_violations(self) -> list[Finding]:
        return [f for r in self.results if r.rule.enforcement is Enforcement.MANDATORY for f in r.violations]

    @property
    def mandatory_incomplete(self) -> list[RuleResult]:
        return [r for r in self.results if r.rule.enforcement is Enforcement.MANDATORY and r.status == "incomplete"]

    @property
    def verdict(self) -> Verdict:
        """VIOLATED on a mandatory violation; INCOMPLETE when a mandatory rule could not be evaluated."""
        if self.mandatory_violations:
            return "VIOLATED"
        if self.mandatory_incomplete:
            return "INCOMPLETE"
        return "COMPLIANT"

    @property
    def ok(self) -> bool:
        return self.verdict == "COMPLIANT"

    @property
    def counts(self) -> dict[Status, int]:
        """How many rules passed, were violated, could not be evaluated, did not apply."""
        return {s: sum(1 for r in self.results if r.status == s) for s in STATUSES}

    def violated_rules(self) -> set[str]:
        return {r.rule.name for r in self.results if r.status == "violated"}

    def to_json(self) -> dict[str, Any]:
        ctx = self.context
        return {
            "stack": self.stack,
            "ok": self.ok,
            "verdict": self.verdict,
            "context": {
                "jurisdiction": ctx.jurisdiction,
                "environment": ctx.environment,
                "cloud": ctx.cloud,
                "region": ctx.region,
                "copyRegion": ctx.copy_region,
                "geoRedundancy": ctx.geo_redundancy,
            },
            "provenance": self.provenance,
            "generated": {"at": self.generated_at, "seconds": round(self.seconds, 3)},
            "resources": self.resource_count,
            "summary": {
                **{camel(status.replace("-", "_")): n for status, n in self.counts.items()},
                "mandatoryViolations": len(self.mandatory_violations),
                "mandatoryIncomplete": len(self.mandatory_incomplete),
            },
            "rules": [r.to_json() for r in self.results],
            "sinceLastAudit": self.comparison.to_json() if self.comparison else None,
        }


def run_rules(stack: StackView, rules: Sequence[Rule] = ALL_RULES) -> list[RuleResult]:
    return [RuleResult(rule, list(rule.run(stack)), rule.not_applicable_reason(stack.context)) for rule in rules]


def check_views(views: Iterable[ResourceView], context: StackContext, rules: Sequence[Rule] = ALL_RULES) -> CheckResult:
    view_list = list(views)
    started = time.perf_counter()
    results = run_rules(StackView(context, view_list), rules)
    return CheckResult(context.stack, context, results, len(view_list), time.perf_counter() - started)


def check_manifest(manifest: Manifest, context: StackContext, rules: Sequence[Rule] = ALL_RULES) -> CheckResult:
    return check_views(views_of(manifest), context, rules)


def context_of(env: str) -> StackContext:
    """The context of stack ENV (a name or a file path), validated like synth validates it."""
    stack_file = open_stack(env)
    return contexts.from_config(stack_file.stack, stack_file.config, str(stack_file.path))


def check_stack(env: str, previous: Path | None = None) -> tuple[Manifest, CheckResult]:
    """Synth ENV offline and check it, with its provenance (and what changed since PREVIOUS, a JSON report)."""
    previous_report = load_previous(previous) if previous is not None else None  # bad input fails first
    started = time.perf_counter()
    manifest = synth(env)
    result = check_manifest(manifest, context_of(env))
    result.seconds = time.perf_counter() - started
    result.provenance = provenance([open_stack(env).path])
    if previous_report is not None:
        result.comparison = compare(result.to_json(), previous_report)
    return manifest, result
