"""The offline checker: synth a stack, view its manifest, run every rule, collect a result per rule."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from policies import context as contexts
from policies.model import Enforcement, Finding, ResourceView, Rule, StackContext, StackView
from policies.rules import ALL_RULES
from stacks.environment import open_stack
from stacks.synth import MOCK_ACCOUNT, Manifest, ManifestResource, synth

Status = Literal["passed", "violated", "not-applicable"]

# Inputs naming a resource, which other resources use to point at it.
_NAME_KEYS = ("bucket", "name", "accountName", "serverName", "vaultName", "workspaceName", "identifier", "keyName")


def aliases_of(resource: ManifestResource) -> frozenset[str]:
    """Values the synth mocks hand out for this resource: `<name>-id`, the mock ARN, its names."""
    aliases = {resource.urn, resource.name, f"{resource.name}-id"}
    package, _, rest = resource.type.partition(":")
    if package == "aws":
        service = rest.split("/")[0].split(":")[0]
        aliases.add(f"arn:aws:{service}:mock:{MOCK_ACCOUNT}:{resource.name}")
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


@dataclass
class RuleResult:
    rule: Rule
    findings: list[Finding] = field(default_factory=list)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def passes(self) -> list[Finding]:
        return [f for f in self.findings if f.ok]

    @property
    def status(self) -> Status:
        if not self.findings:
            return "not-applicable"
        return "violated" if self.violations else "passed"

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
            "passed": [f.to_json() for f in self.passes],
            "violations": [f.to_json() for f in self.violations],
        }


@dataclass
class CheckResult:
    stack: str
    context: StackContext
    results: list[RuleResult]
    resource_count: int
    seconds: float = 0.0

    @property
    def mandatory_violations(self) -> list[Finding]:
        return [f for r in self.results if r.rule.enforcement is Enforcement.MANDATORY for f in r.violations]

    @property
    def ok(self) -> bool:
        return not self.mandatory_violations

    @property
    def counts(self) -> dict[Status, int]:
        """How many rules passed, were violated, did not apply."""
        return {s: sum(1 for r in self.results if r.status == s) for s in ("passed", "violated", "not-applicable")}

    def violated_rules(self) -> set[str]:
        return {r.rule.name for r in self.results if r.status == "violated"}

    def to_json(self) -> dict[str, Any]:
        ctx = self.context
        return {
            "stack": self.stack,
            "ok": self.ok,
            "context": {
                "jurisdiction": ctx.jurisdiction,
                "environment": ctx.environment,
                "cloud": ctx.cloud,
                "region": ctx.region,
                "copyRegion": ctx.copy_region,
                "geoRedundancy": ctx.geo_redundancy,
            },
            "resources": self.resource_count,
            "summary": {**self.counts, "mandatoryViolations": len(self.mandatory_violations)},
            "seconds": round(self.seconds, 3),
            "rules": [r.to_json() for r in self.results],
        }


def run_rules(stack: StackView, rules: Sequence[Rule] = ALL_RULES) -> list[RuleResult]:
    return [RuleResult(rule, list(rule.run(stack))) for rule in rules]


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


def check_stack(env: str) -> tuple[Manifest, CheckResult]:
    """Synth ENV offline and check it; the result's `seconds` covers synth and rules."""
    started = time.perf_counter()
    manifest = synth(env)
    result = check_manifest(manifest, context_of(env))
    result.seconds = time.perf_counter() - started
    return manifest, result
