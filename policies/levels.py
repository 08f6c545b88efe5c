"""MTender's eight levels of defence in depth, as a second view of a check beside the ISO/IEC 27001 controls.

MTender (Moldova) describes its protection in eight levels. Each rule evidences the level of its concern (by its
control, with a few rules placed by name); the physical level is the cloud provider's (MCloud's data centres),
which no rule of a stack can evidence, and the report says so instead of passing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from opcloud.policies.check import CheckResult, RuleResult
from opcloud.policies.model import Enforcement

PHYSICAL = "physical"
LEVELS: tuple[str, ...] = (
    PHYSICAL,
    "network",
    "virtual infrastructure",
    "access control and data",
    "applications",
    "security monitoring and testing",
    "operations management",
    "risk management and continuity",
)
PROVIDERS_LEVEL = "the cloud provider's: its data centres' physical security is evidenced by its own certification"

# ISO/IEC 27001 control -> level; rules whose concern differs from their control's are placed by name below.
_BY_CONTROL: Mapping[str, str] = {
    "A.8.20": "network",
    "A.5.23": "virtual infrastructure",
    "A.8.24": "access control and data",
    "A.8.12": "access control and data",
    "A.5.34": "access control and data",
    "A.8.15": "security monitoring and testing",
    "A.8.8": "security monitoring and testing",
    "A.5.9": "operations management",
    "A.5.33": "operations management",
    "A.8.13": "risk management and continuity",
    "A.8.14": "risk management and continuity",
}
_BY_RULE: Mapping[str, str] = {
    "no-plaintext-listeners": "applications",
    "known-resource-types": "operations management",
}
# Words in a rule's name that place it with the applications (web entry, WAF, TLS of the services).
_APPLICATION_WORDS = ("waf", "gateway", "alb", "listener", "release")


@dataclass
class Level:
    name: str
    rules: list[RuleResult] = field(default_factory=list)
    provider: str | None = None  # set for the level the provider alone evidences

    @property
    def status(self) -> str:
        if self.provider is not None:
            return "provider"
        mandatory = {r.status for r in self.rules if r.rule.enforcement is Enforcement.MANDATORY}
        for worst in ("violated", "incomplete"):
            if worst in mandatory:
                return worst
        if any(r.status in ("violated", "incomplete") for r in self.rules):
            return "passed, with advisory findings"
        return "passed" if self.rules else "no rule"

    def to_json(self) -> dict[str, object]:
        return {
            "level": self.name,
            "status": self.status,
            "provider": self.provider,
            "rules": [{"rule": r.rule.name, "status": r.status} for r in self.rules],
        }


def level_of(result: RuleResult) -> str:
    name = result.rule.name
    if name in _BY_RULE:
        return _BY_RULE[name]
    if any(word in name for word in _APPLICATION_WORDS):
        return "applications"
    return _BY_CONTROL.get(result.rule.control.id, "operations management")


def eight_levels(result: CheckResult) -> list[Level]:
    """The check's rules by level, in MTender's order; not-applicable rules are left out."""
    levels = {name: Level(name) for name in LEVELS}
    levels[PHYSICAL].provider = PROVIDERS_LEVEL
    for rule_result in result.results:
        if rule_result.status != "not-applicable":
            levels[level_of(rule_result)].rules.append(rule_result)
    return list(levels.values())


def shows_levels(result: CheckResult) -> bool:
    """MTender's stacks show the eight levels by default."""
    return result.context.tags.get("platform", "").lower() == "mtender"
