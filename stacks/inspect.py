"""Read a synth manifest the way people think of a platform: by part, as a tree, side by side."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.tree import Tree

from stacks.synth import Manifest, ManifestResource

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


def short_type(type_: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws:s3:Bucket`, readable in a tree."""
    package, _, rest = type_.partition(":")
    module, _, name = rest.rpartition(":")
    return f"{package}:{module.split('/')[0]}:{name}" if module else type_


def tree(manifest: Manifest) -> Tree:
    root = Tree(f"[bold]{manifest.project}[/] / [bold]{manifest.stack}[/]")
    nodes: dict[str | None, Tree] = {}
    known = {r.urn for r in manifest.resources}
    for resource in manifest.resources:
        parent = nodes.get(resource.parent) if resource.parent in known else root
        label = f"{resource.name} [dim]{short_type(resource.type)}[/]"
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


@dataclass
class PartDiff:
    part: str
    in_a: bool
    in_b: bool
    only_a: dict[str, int] = field(default_factory=dict)  # resource type -> how many more A has
    only_b: dict[str, int] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return self.in_a == self.in_b and not self.only_a and not self.only_b

    def to_json(self) -> dict[str, object]:
        return {"part": self.part, "inA": self.in_a, "inB": self.in_b, "onlyA": self.only_a, "onlyB": self.only_b}


def diff(a: Manifest, b: Manifest) -> list[PartDiff]:
    """Part by part: which parts each stack has, and which resource kinds one has more of."""
    parts_a, parts_b = parts(a), parts(b)
    result = []
    for part in PARTS.values():
        types_a = Counter(r.type for r in parts_a.get(part, []) if not r.type.startswith("opcloud:"))
        types_b = Counter(r.type for r in parts_b.get(part, []) if not r.type.startswith("opcloud:"))
        result.append(
            PartDiff(
                part=part,
                in_a=part in parts_a,
                in_b=part in parts_b,
                only_a=dict(sorted((types_a - types_b).items())),
                only_b=dict(sorted((types_b - types_a).items())),
            )
        )
    return result
