"""How the hardening rules follow a property to the resource it names, before and after deployment."""

from __future__ import annotations

from opcloud.policies.model import ResourceView, StackView


def by_name(resources: list[ResourceView]) -> list[ResourceView]:
    """Resources in a stable order, whatever order the program declared them in (reports can be diffed)."""
    return sorted(resources, key=lambda r: (r.name, r.type, r.urn))


def pointed_at(stack: StackView, resource: ResourceView, prop: str, *types: str) -> list[ResourceView]:
    """Resources of `types` that `resource`'s property `prop` (dotted) points at, by value or, when the value is
    not known yet (preview), by the engine's dependency on its top-level property."""
    value = resource.get(prop)
    top = prop.split(".")[0]
    return by_name(
        [r for r in stack.of_type(*types) if r.urn in resource.refs.get(top, ()) or r in stack.resolve(value)]
    )
