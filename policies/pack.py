"""The rules as Pulumi policies: the same functions `opcloud stack check` runs, wrapped for the engine.

A rule that only reads its own resource becomes a `ResourceValidationPolicy` (it runs before each
resource is created); a rule that follows references to other resources becomes a
`StackValidationPolicy`. Unknown values of a preview reach the rules as `[unknown]`, as in synth.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_policy as pp
from opcloud.policies import context as contexts
from opcloud.policies.model import FRAMEWORK, FRAMEWORK_VERSION, UNKNOWN, Enforcement, ResourceView, Rule, StackContext
from opcloud.policies.model import StackView as View
from opcloud.policies.rules import ALL_RULES
from opcloud.stacks.pulumi_internals import is_policy_proxy, is_policy_unknown

from opcloud.config.environment import list_stacks, open_stack

PACK_NAME = "opcloud-compliance"
_NAME_KEYS = ("id", "arn", "bucket", "name", "accountName", "serverName", "vaultName", "identifier")

_ENFORCEMENT = {
    Enforcement.MANDATORY: pp.EnforcementLevel.MANDATORY,
    Enforcement.ADVISORY: pp.EnforcementLevel.ADVISORY,
}


def plain(value: Any) -> Any:
    """The engine's proxied props as plain data, unknowns as `[unknown]` (never raising)."""
    if isinstance(value, Mapping):
        target = value["__target"] if is_policy_proxy(value) else value
        return {key: plain(target[key]) for key in target}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        target = value["__target"] if is_policy_proxy(value) else value  # type: ignore[call-overload]
        return [plain(item) for item in target]
    if isinstance(value, pp.secret.Secret):
        return plain(value.value)
    if is_policy_unknown(value):
        return UNKNOWN
    return value


def _aliases(urn: str, name: str, props: Mapping[str, Any]) -> frozenset[str]:
    values = {urn, name, *(str(props[k]) for k in _NAME_KEYS if isinstance(props.get(k), str))}
    return frozenset(v for v in values if v and v != UNKNOWN)


def view_of_args(args: pp.ResourceValidationArgs) -> ResourceView:
    props = plain(args.props)
    return ResourceView(args.urn, args.resource_type, args.name, props, None, _aliases(args.urn, args.name, props))


def view_of_resource(resource: pp.PolicyResource) -> ResourceView:
    props = plain(resource.props)
    refs = {prop: tuple(dep.urn for dep in deps) for prop, deps in resource.property_dependencies.items()}
    parent = resource.parent.urn if resource.parent is not None else None
    return ResourceView(
        resource.urn,
        resource.resource_type,
        resource.name,
        props,
        parent,
        _aliases(resource.urn, resource.name, props),
        refs,
    )


def stack_of_urn(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`."""
    return urn.split("::")[0].rsplit(":", 1)[-1]


@functools.lru_cache(maxsize=8)
def engine_context(stack: str) -> StackContext:
    """The stack's context inside the engine: its config if Pulumi passed it, else its environment file."""
    config = {key: str(value) for key, value in pulumi.runtime.get_config_env().items()}
    if any(key.startswith("opcloud:") for key in config):
        return contexts.from_config(stack, config, f"stack {stack} config")
    if stack in list_stacks():
        stack_file = open_stack(stack)
        return contexts.from_config(stack, stack_file.config, str(stack_file.path))
    return StackContext(stack=stack)


def _context(views: Iterable[ResourceView]) -> StackContext:
    views = list(views)
    stack = os.environ.get("PULUMI_STACK") or (stack_of_urn(views[0].urn) if views else "")
    context = engine_context(stack)
    if context.jurisdiction is None:
        return contexts.from_tags(stack, views)
    return context


def _report(rule: Rule, stack: View, report: pp.ReportViolation) -> None:
    for finding in rule.run(stack):
        if finding.violation:  # an unevaluated finding ("will be known") is checked again at `up`
            report(f"{finding.resource}: {finding.message}" if finding.resource else finding.message, finding.urn)


def to_policy(rule: Rule) -> pp.Policy:
    common: dict[str, Any] = {
        "name": rule.name,
        "description": rule.description,
        "enforcement_level": _ENFORCEMENT[rule.enforcement],
        "severity": pp.Severity(rule.severity.value),
        "framework": pp.PolicyComplianceFramework(
            name=FRAMEWORK, version=FRAMEWORK_VERSION, reference=rule.control.id, specification=rule.control.title
        ),
        "tags": [rule.control.id],
        "remediation_steps": rule.remediation,
    }
    if rule.needs_stack:

        def validate_stack(args: pp.StackValidationArgs, report: pp.ReportViolation) -> None:
            views = [view_of_resource(r) for r in args.resources]
            _report(rule, View(_context(views), views), report)

        return pp.StackValidationPolicy(validate=validate_stack, **common)

    def validate_resource(args: pp.ResourceValidationArgs, report: pp.ReportViolation) -> None:
        view = view_of_args(args)
        _report(rule, View(_context([view]), [view]), report)

    return pp.ResourceValidationPolicy(validate=validate_resource, **common)


def build_policies(rules: Sequence[Rule] = ALL_RULES) -> list[pp.Policy]:
    return [to_policy(rule) for rule in rules]
