"""Fail closed on what the pack does not know: an unknown provider package, or an unknown resource type in a
namespace that holds data, could keep data anywhere; no rule can say where, so the stack is VIOLATED.

What is known comes from the policy adapters of the registered clouds (policies/adapter.py): a cloud registered
without one is unknown here too.
"""

from __future__ import annotations

from collections.abc import Iterator

from opcloud.policies import adapter
from opcloud.policies import resources as res
from opcloud.policies.model import A_5_23, ResourceView, Severity, StackView, stack_rule

from opcloud import clouds

# Packages that hold nothing: `pulumi` (providers, the stack) and `opcloud` (components).
NEUTRAL_PACKAGES = ("pulumi", "opcloud")
# Types the rules name (every constant of policies/resources.py).
RULE_TYPES: frozenset[str] = frozenset(
    t
    for name in dir(res)
    if name.isupper() and isinstance(getattr(res, name), tuple)
    for t in getattr(res, name)
    if isinstance(t, str) and ":" in t
)


def _unknown(resource: ResourceView) -> str | None:
    package, _, rest = resource.type.partition(":")
    if package in NEUTRAL_PACKAGES:
        return None
    cloud = clouds.cloud_of_type(resource.type)
    policy = adapter.policy_of(cloud) if cloud else None
    if cloud is not None and policy is None:
        return f"cloud {cloud!r} has no policy adapter: where its {package!r} resources keep data cannot be judged"
    if policy is None:
        return f"provider package {package!r} is unknown to the pack: where it keeps data cannot be judged"
    if (why := policy.unknown_reason(resource)) is not None:
        return why
    namespace = rest.split(":")[0].split("/")[0]
    known = RULE_TYPES.union(policy.data_stores, policy.known_types)
    if namespace in policy.data_namespaces and resource.type not in known:
        return f"{resource.type} sits in the data-holding namespace {namespace!r} but no rule knows it"
    return None


@stack_rule(
    name="known-resource-types",
    description="Every resource comes from a provider package the pack knows, and every resource type in a "
    "data-holding namespace is one the rules judge (unknowns fail closed).",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="Teach the pack the new type (policies/resources.py and the rules that judge it) before using it.",
)
def known_resource_types(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    unknown = [(r, why) for r in stack.resources if (why := _unknown(r))]
    for resource, why in unknown:
        yield resource, False, why
    if not unknown:
        yield None, True, f"all {len(stack.resources)} resources are of packages and types the rules know"


RULES = (known_resource_types,)
