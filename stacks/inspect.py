"""Read a synth manifest the way people think of a platform: by part, as a tree, side by side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opcloud.stacks.synth import Manifest, ManifestResource
from rich.markup import escape
from rich.tree import Tree

# DESIGN.md's table, by the last segment of each component type (opcloud:<cloud>:<Part>).
PARTS: dict[str, str] = {
    "Network": "network and firewall",
    "Keys": "keys",
    "DocumentStore": "object storage (documents)",
    "Database": "database",
    "Backups": "backups",
    "AppTier": "app tier",
    "Audit": "audit logging",
}


def part_of(resource: ManifestResource) -> str | None:
    namespace, _, rest = resource.type.partition(":")
    if namespace != "opcloud":
        return None
    return PARTS.get(rest.rpartition(":")[2])


def parts(manifest: Manifest) -> dict[str, list[ManifestResource]]:
    """Each part of the platform and every resource declared under it (its component's descendants)."""
    by_urn = {r.urn: r for r in manifest.resources}
    found: dict[str, list[ManifestResource]] = {}
    for resource in manifest.resources:
        node: ManifestResource | None = resource
        while node is not None:
            part = part_of(node)
            if part is not None:
                found.setdefault(part, []).append(resource)
                break
            node = by_urn.get(node.parent) if node.parent else None
    return found


def tree(manifest: Manifest) -> Tree:
    root = Tree(f"[bold]{manifest.project}[/] / [bold]{manifest.stack}[/]")
    nodes: dict[str | None, Tree] = {}
    known = {r.urn for r in manifest.resources}
    for resource in manifest.resources:
        parent = nodes.get(resource.parent) if resource.parent in known else root
        label = f"{escape(resource.name)} [dim]{escape(resource.type)}[/]"
        nodes[resource.urn] = (parent or root).add(label)
    return root


@dataclass
class Summary:
    stack: str
    resources: int
    by_provider: dict[str, int]
    parts: dict[str, int]
    missing_parts: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "stack": self.stack,
            "resources": self.resources,
            "byProvider": self.by_provider,
            "parts": self.parts,
            "missingParts": self.missing_parts,
        }


def summarize(manifest: Manifest) -> Summary:
    found = parts(manifest)
    providers = Counter(r.type.partition(":")[0] for r in manifest.resources if not r.type.startswith("opcloud:"))
    return Summary(
        stack=manifest.stack,
        resources=len(manifest.resources),
        by_provider=dict(sorted(providers.items())),
        parts={part: len(found.get(part, [])) for part in PARTS.values() if part in found},
        missing_parts=[part for part in PARTS.values() if part not in found],
    )


# Resources under no part of the table above (the IaaS host steps, stack-level resources).
OTHER_PART = "other resources"


class _Absent:
    """A value only one side has (JSON leaves that side out; the terminal says `(absent)`)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Change:
    """One value that differs: a config key or a resource property at a dotted path."""

    path: str
    a: Any
    b: Any

    def to_json(self) -> dict[str, object]:
        sides = {"a": self.a, "b": self.b}
        return {"path": self.path, **{side: value for side, value in sides.items() if value is not ABSENT}}


@dataclass
class ResourceDiff:
    """One resource of either stack, matched by type and name without the stack's own name prefix."""

    type: str
    name: str  # the logical name, e.g. `network-vpc`
    status: str  # "changed", "onlyA", "onlyB"
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "type": self.type,
            "name": self.name,
            "status": self.status,
            "changes": [change.to_json() for change in self.changes],
        }


@dataclass
class PartDiff:
    part: str
    in_a: bool
    in_b: bool
    resources: list[ResourceDiff] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.in_a == self.in_b and not self.resources

    def to_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "inA": self.in_a,
            "inB": self.in_b,
            "same": self.same,
            "resources": [resource.to_json() for resource in self.resources],
        }


@dataclass
class StackDiff:
    a: str
    b: str
    config: list[Change]
    parts: list[PartDiff]

    @property
    def same(self) -> bool:
        return not self.config and all(part.same for part in self.parts)

    def to_json(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "same": self.same,
            "config": [change.to_json() for change in self.config],
            "parts": [part.to_json() for part in self.parts],
        }


def name_prefix(manifest: Manifest) -> str:
    """The prefix every resource name of a stack starts with (`prozorro-sale-prod-`), cut at a dash."""
    names = [r.name for r in manifest.resources]
    if not names:
        return ""
    words = [name.split("-") for name in names]
    common = []
    for parts_at in zip(*words, strict=False):
        if len(set(parts_at)) != 1:
            break
        common.append(parts_at[0])
    if len(common) == min(len(w) for w in words):
        common = common[:-1]  # keep at least one word of every name
    return "-".join(common) + "-" if common else ""


def _normalise(value: Any, prefix: str, stack: str) -> Any:
    """The value with the stack's own names taken out, so two stacks compare by what they declare."""
    if isinstance(value, str):
        if prefix:
            value = value.replace(prefix, "{name}-")
        return value.replace(stack, "{stack}") if stack else value
    if isinstance(value, list):
        return [_normalise(item, prefix, stack) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item, prefix, stack) for key, item in value.items()}
    return value


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Nested inputs as dotted paths to leaves (`tags.owner`, `ingress.0.cidrBlocks.0`); empty containers kept."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key in sorted(value):
            flat.update(flatten(value[key], f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(value, list) and value:
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{path}.{index}" if path else str(index)))
        return flat
    return {path: value}


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Every path whose value differs between two flattened mappings, in path order."""
    flat_a, flat_b = flatten(dict(a)), flatten(dict(b))
    return [
        Change(path, flat_a.get(path, ABSENT), flat_b.get(path, ABSENT))
        for path in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(path, ABSENT) != flat_b.get(path, ABSENT)
    ]


def _keyed(manifest: Manifest) -> dict[str, dict[tuple[str, str], ManifestResource]]:
    """Per part: each non-component resource by (type, logical name)."""
    prefix = name_prefix(manifest)
    by_part: dict[str, dict[tuple[str, str], ManifestResource]] = {}
    found = parts(manifest)
    placed = {r.urn for resources in found.values() for r in resources}
    others = [r for r in manifest.resources if r.urn not in placed]
    for part, resources in [*found.items(), (OTHER_PART, others)]:
        for resource in resources:
            if resource.type.startswith("opcloud:"):
                continue  # components hold no inputs of their own; their children are compared
            name = resource.name[len(prefix) :] if prefix and resource.name.startswith(prefix) else resource.name
            by_part.setdefault(part, {})[(resource.type, name)] = resource
    return by_part


def diff(a: Manifest, b: Manifest, config_a: Mapping[str, Any], config_b: Mapping[str, Any]) -> StackDiff:
    """Config first, then part by part every resource one stack lacks and every property that differs."""
    keyed_a, keyed_b = _keyed(a), _keyed(b)
    prefix_a, prefix_b = name_prefix(a), name_prefix(b)
    result = []
    for part in [*PARTS.values(), OTHER_PART]:
        resources_a, resources_b = keyed_a.get(part, {}), keyed_b.get(part, {})
        if part == OTHER_PART and not resources_a and not resources_b:
            continue
        changed = []
        for key in sorted(set(resources_a) | set(resources_b)):
            type_, name = key
            if key not in resources_b:
                changed.append(ResourceDiff(type_, name, "onlyA"))
            elif key not in resources_a:
                changed.append(ResourceDiff(type_, name, "onlyB"))
            else:
                changes = compare(
                    _normalise(resources_a[key].inputs, prefix_a, a.stack),
                    _normalise(resources_b[key].inputs, prefix_b, b.stack),
                )
                if changes:
                    changed.append(ResourceDiff(type_, name, "changed", changes))
        result.append(PartDiff(part, part in keyed_a, part in keyed_b, changed))
    return StackDiff(a.stack, b.stack, compare(config_a, config_b), result)
