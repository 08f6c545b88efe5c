"""The vocabulary of the policy pack: controls, rules, findings and the views rules read.

A rule is a plain function over a `ResourceView` (or the whole `StackView`) with metadata naming the
ISO/IEC 27001:2022 Annex A control it evidences. The same function runs offline on a synth manifest
(`policies.check`) and inside `pulumi preview --policy-pack policies` (`policies.pack`), so the two
can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from opcloud import allowlists

UNKNOWN = "[unknown]"
SECRET = "[secret]"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Enforcement(StrEnum):
    MANDATORY = "mandatory"  # blocks the deployment and fails `opcloud stack check`
    ADVISORY = "advisory"  # reported, never blocks


@dataclass(frozen=True)
class Control:
    """An ISO/IEC 27001:2022 Annex A control."""

    id: str
    title: str


FRAMEWORK = "ISO/IEC 27001"
FRAMEWORK_VERSION = "2022"

A_5_23 = Control("A.5.23", "Information security for use of cloud services")
A_5_34 = Control("A.5.34", "Privacy and protection of PII")
A_8_12 = Control("A.8.12", "Data leakage prevention")
A_8_13 = Control("A.8.13", "Information backup")
A_8_15 = Control("A.8.15", "Logging")
A_8_20 = Control("A.8.20", "Networks security")
A_8_24 = Control("A.8.24", "Use of cryptography")
A_5_9 = Control("A.5.9", "Inventory of information and other associated assets")
A_5_33 = Control("A.5.33", "Protection of records")
A_8_14 = Control("A.8.14", "Redundancy of information processing facilities")
A_8_8 = Control("A.8.8", "Management of technical vulnerabilities")

# Report order: the controls an auditor asks about first.
CONTROLS: tuple[Control, ...] = (
    A_5_34,
    A_5_23,
    A_8_24,
    A_8_20,
    A_8_12,
    A_8_13,
    A_8_14,
    A_8_15,
    A_8_8,
    A_5_33,
    A_5_9,
)


@dataclass(frozen=True)
class ResourceView:
    """One resource as a rule sees it, whoever produced it (synth manifest or the Pulumi engine).

    `props` are the provider inputs, camelCase, unknown values as `UNKNOWN`, secrets as `SECRET`.
    `aliases` are the values other resources use to point at this one (id, ARN, name); `refs` maps a
    property to the URNs it was computed from, when the engine tells us.
    """

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None
    aliases: frozenset[str] = frozenset()
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, path: str, default: Any = None) -> Any:
        """`props` at a dotted path (`backup.geoRedundantBackup`, `rules.0.destination`)."""
        value: Any = self.props
        for part in path.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return default
        return default if value is None else value

    @property
    def tags(self) -> Mapping[str, str]:
        """Tags as a map, whether the provider takes a map or a list of {key, value} (auto scaling)."""
        tags = self.props.get("tags")
        if isinstance(tags, Mapping):
            return tags
        if isinstance(tags, list):
            return {str(t["key"]): str(t.get("value", "")) for t in tags if isinstance(t, Mapping) and "key" in t}
        return {}


@dataclass(frozen=True)
class BackupPolicy:
    full_weekday: str
    log_interval_minutes: int
    retention_days: int


def _default_limits() -> dict[str, int]:
    return {str(port_class): limit for port_class, limit in allowlists.DEFAULT_LIMITS.items()}


@dataclass(frozen=True)
class StackContext:
    """What the rules need to know about the stack beyond its resources."""

    stack: str
    jurisdiction: str | None = None
    # Where the primary data must lie inside the jurisdiction (IE in EU); copies may lie anywhere in it.
    primary_jurisdiction: str | None = None
    environment: str | None = None
    cloud: str | None = None
    region: str | None = None
    copy_region: str | None = None
    geo_redundancy: Literal["region", "zones"] = "region"
    backup: BackupPolicy | None = None
    program: str = "platform"
    # Public addresses a firewall may admit per port class (admin, data, web): the environment's limits.
    allow_limits: Mapping[str, int] = field(default_factory=_default_limits, hash=False)
    # The stack's standard tags (owner, platform, environment, jurisdiction, managed-by).
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    # NFS shares documented to use krb5i (integrity without privacy) instead of krb5p.
    nfs_integrity_only: frozenset[str] = frozenset()

    @property
    def production(self) -> bool:
        return self.environment == "prod"


@dataclass
class StackView:
    """Every resource of a stack plus its context; resolves references between resources."""

    context: StackContext
    resources: list[ResourceView]
    _by_alias: dict[str, list[ResourceView]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_alias = {}
        for resource in self.resources:
            for alias in resource.aliases:
                self._by_alias.setdefault(alias, []).append(resource)

    def of_type(self, *types: str) -> list[ResourceView]:
        return [r for r in self.resources if r.type in types]

    def resolve(self, value: Any) -> list[ResourceView]:
        """The resources a property value points at (an id, ARN or name; ARN-with-path prefixes too)."""
        if not isinstance(value, str) or value in ("", UNKNOWN):
            return []
        found = self._by_alias.get(value)
        if found:
            return found
        # A sub-resource path points into its parent: "arn:...:bucket/*", "<account id>/blobServices/default".
        head = value
        while "/" in head:
            head = head.rsplit("/", 1)[0]
            if head and head in self._by_alias:
                return self._by_alias[head]
        return []

    def points_at(self, source: ResourceView, prop: str, target: ResourceView) -> bool:
        """Does `source`'s (dotted) `prop` point at `target`, by the engine's dependency or by value?

        The engine reports dependencies per top-level property, so a nested property is judged by its top.
        """
        if target.urn in source.refs.get(prop.split(".")[0], ()):
            return True
        return any(target in self.resolve(value) for value in _values(source.get(prop)))

    def referencing(self, target: ResourceView, *types: str, prop: str) -> list[ResourceView]:
        """Resources of `types` whose `prop` points at `target` (by engine dependency or by value)."""
        hits = []
        for resource in self.of_type(*types):
            if target.urn in resource.refs.get(prop, ()) or target in self.resolve(resource.get(prop)):
                hits.append(resource)
        return hits


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one resource (or on the stack when `urn` is None).

    `evaluated` is False when the rule could not decide (a value unknown until `up`, an address the
    registry does not know): such a finding is neither a pass nor a violation, and makes the rule INCOMPLETE.
    """

    rule: str
    ok: bool
    message: str
    urn: str | None = None
    resource: str | None = None  # "type name" for people
    resource_type: str | None = None
    evaluated: bool = True

    @property
    def violation(self) -> bool:
        return self.evaluated and not self.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "ok": self.ok,
            "evaluated": self.evaluated,
            "message": self.message,
            "urn": self.urn,
            "resource": self.resource,
            "type": self.resource_type,
        }


# (True, why) passed, (False, why) violated, (None, why) could not be evaluated (see `unevaluated`).
Verdict = tuple[bool | None, str]


def unevaluated(message: str) -> Verdict:
    """A verdict the rule cannot reach: never a pass, never a violation; the rule is then INCOMPLETE."""
    return None, message


def pending(what: str) -> Verdict:
    """A value the engine computes during the update: "will be known", checked again at `up`."""
    return None, f"{what} is computed by the provider: will be known at update time and checked then"


ResourceCheck = Callable[[ResourceView, StackView], Iterable[Verdict] | None]
StackCheck = Callable[[StackView], Iterable[tuple[ResourceView | None, bool | None, str]]]


@dataclass(frozen=True)
class Rule:
    """A rule and its metadata. Exactly one of `resource_check` / `stack_check` is set.

    A resource check sees one resource (and, offline or as a stack policy, the rest of the stack):
    it returns None when it does not apply, else verdicts `(ok, message)`. A stack check yields
    `(resource or None, ok, message)` for the stack as a whole.
    """

    name: str
    description: str
    control: Control
    severity: Severity
    enforcement: Enforcement
    remediation: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    # Whether the resource check needs other resources (then Pulumi runs it as a stack policy).
    needs_stack: bool = False
    # Where the resources this rule covers cannot exist: cloud ("iaas") or "program:<name>" -> the reason.
    # Anywhere else a rule that finds nothing to judge is INCOMPLETE, never "not applicable".
    not_applicable: Mapping[str, str] = field(default_factory=dict, hash=False)

    def not_applicable_reason(self, context: StackContext) -> str | None:
        """Why the rule has nothing to judge in this stack, if the kind it covers does not exist there."""
        if context.program != "platform" and f"program:{context.program}" in self.not_applicable:
            return self.not_applicable[f"program:{context.program}"]
        if context.cloud is not None and context.cloud in self.not_applicable:
            return self.not_applicable[context.cloud]
        if not context.production and "non-production" in self.not_applicable:
            return self.not_applicable["non-production"]
        return None

    def run(self, stack: StackView) -> Iterator[Finding]:
        if self.stack_check is not None:
            for resource, ok, message in self.stack_check(stack):
                yield self._finding(resource, ok, message)
            return
        assert self.resource_check is not None
        for resource in stack.resources:
            verdicts = self.resource_check(resource, stack)
            if verdicts is None:
                continue
            for ok, message in verdicts:
                yield self._finding(resource, ok, message)

    def _finding(self, resource: ResourceView | None, ok: bool | None, message: str) -> Finding:
        evaluated = ok is not None
        if resource is None:
            return Finding(self.name, bool(ok), message, evaluated=evaluated)
        where = f"{resource.type} {resource.name}"
        return Finding(self.name, bool(ok), message, resource.urn, where, resource.type, evaluated)


def resource_rule(
    *,
    name: str,
    description: str,
    control: Control,
    severity: Severity,
    remediation: str,
    enforcement: Enforcement = Enforcement.MANDATORY,
    needs_stack: bool = False,
    not_applicable: Mapping[str, str] | None = None,
) -> Callable[[ResourceCheck], Rule]:
    """Decorator: turn `check(resource, stack)` into a `Rule` carrying its metadata."""

    def wrap(check: ResourceCheck) -> Rule:
        return Rule(
            name,
            description,
            control,
            severity,
            enforcement,
            remediation,
            check,
            None,
            needs_stack,
            dict(not_applicable or {}),
        )

    return wrap


def stack_rule(
    *,
    name: str,
    description: str,
    control: Control,
    severity: Severity,
    remediation: str,
    enforcement: Enforcement = Enforcement.MANDATORY,
    not_applicable: Mapping[str, str] | None = None,
) -> Callable[[StackCheck], Rule]:
    def wrap(check: StackCheck) -> Rule:
        return Rule(
            name,
            description,
            control,
            severity,
            enforcement,
            remediation,
            None,
            check,
            True,
            dict(not_applicable or {}),
        )

    return wrap
