"""At a stack's first preview every id and ARN is unknown: the hardening rules must not call that a violation.

The shipped stacks are synthesized, then every value computed from another resource (its mock id `<name>-id`,
its mock ARN, or a JSON document embedding them) is replaced by the engine's unknown marker where it sits, and
the engine's property dependencies (`refs`) are kept, as `pulumi preview` hands them to the pack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opcloud.policies.check import context_of, views_of
from opcloud.policies.model import UNKNOWN, Enforcement, ResourceView, StackView
from opcloud.policies.rules import (
    compute_hardening,
    database_hardening,
    edge,
    iam,
    key_vault,
    logging_hardening,
    network_hardening,
    storage_hardening,
)
from opcloud.stacks.synth import Manifest

HARDENING = (
    *network_hardening.RULES,
    *edge.RULES,
    *iam.RULES,
    *compute_hardening.RULES,
    *key_vault.RULES,
    *storage_hardening.RULES,
    *database_hardening.RULES,
    *logging_hardening.RULES,
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _blank(value: Any, aliases: list[str]) -> Any:
    """`value` with every string that embeds a computed id or ARN turned unknown, structure kept (as the engine
    sends a nested output: unknown where it sits)."""
    if isinstance(value, str):
        return UNKNOWN if any(alias in value for alias in aliases) else value
    if isinstance(value, dict):
        return {k: _blank(v, aliases) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, aliases) for v in value]
    return value


def _as_first_preview(views: list[ResourceView]) -> list[ResourceView]:
    computed = {r.urn: [a for a in r.aliases if a.endswith("-id") or a.startswith("arn:")] for r in views}
    previewed = []
    for view in views:
        others = {urn: aliases for urn, aliases in computed.items() if urn != view.urn}
        every_alias = [a for aliases in others.values() for a in aliases]
        props: dict[str, Any] = {}
        refs: dict[str, tuple[str, ...]] = {}
        for key, value in view.props.items():
            texts = list(_strings(value))
            refs[key] = tuple(u for u, aliases in others.items() if any(a in t for a in aliases for t in texts))
            props[key] = _blank(value, every_alias) if refs[key] else value
        previewed.append(ResourceView(view.urn, view.type, view.name, props, view.parent, view.aliases, refs))
    return previewed


def _has_unknown(value: Any) -> bool:
    return UNKNOWN in _strings(value)


@pytest.mark.parametrize("stack", ["prozorro-sale-prod", "rialto-prod", "prokuria-eu-prod", "test-stand"])
def test_unknown_ids_and_arns_are_never_a_violation(stack: str, synthesized: Callable[[str], Manifest]) -> None:
    views = _as_first_preview(views_of(synthesized(stack)))
    assert sum(1 for v in views if _has_unknown(v.props)) > 10  # the preview really has unknowns
    previewed = StackView(context_of(stack), views)
    findings = [f for rule in HARDENING if rule.enforcement is Enforcement.MANDATORY for f in rule.run(previewed)]
    violations = [f"{f.rule}: {f.resource}: {f.message}" for f in findings if f.violation]
    assert violations == []
