"""A cloud's policy adapter: what the rules must know about the resources of one cloud.

Each registered cloud (opcloud/clouds.py) names the module holding its `POLICY` record; the pack reads the
records, never a list of clouds of its own. A cloud without an adapter is not judged at all: its resources
fail the known-resource-types rule (unknowns fail closed), so no verdict on it can be COMPLIANT.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from opcloud.policies.model import ResourceView

from opcloud import clouds


def _no_reason(resource: ResourceView) -> str | None:
    return None


@dataclass(frozen=True)
class CloudPolicy:
    """What the rules need to know about one cloud's resources."""

    data_stores: tuple[str, ...]  # types whose contents are the platform's data (residency, tags judge them)
    databases: tuple[str, ...] = ()
    # Service modules whose resources can hold data: a type there the rules do not know fails closed.
    data_namespaces: frozenset[str] = frozenset()
    known_types: tuple[str, ...] = ()  # further types the rules know (configuration that holds no data)
    region_inputs: tuple[str, ...] = ("region",)  # a resource's own region input, first found wins
    normalize_region: Callable[[str], str] = str
    # A cloud-specific reason why one of its resources cannot be judged (e.g. an IaaS step of unknown kind).
    unknown_reason: Callable[[ResourceView], str | None] = field(default=_no_reason)


@cache
def _load(module: str) -> CloudPolicy:
    policy = getattr(importlib.import_module(module), "POLICY", None)
    if not isinstance(policy, CloudPolicy):
        raise TypeError(f"{module} has no POLICY record (a CloudPolicy)")
    return policy


def policy_of(cloud: str) -> CloudPolicy | None:
    """The adapter of a registered cloud; None for an unknown cloud or one registered without an adapter."""
    record = clouds.CLOUDS.get(cloud)
    if record is None or record.policy_adapter is None:
        return None
    return _load(record.policy_adapter)


def judged_clouds() -> dict[str, CloudPolicy]:
    """Every registered cloud the pack can judge, with its adapter."""
    return {name: policy for name in clouds.CLOUDS if (policy := policy_of(name)) is not None}


def data_stores() -> tuple[str, ...]:
    return tuple(t for policy in judged_clouds().values() for t in policy.data_stores)


def databases() -> tuple[str, ...]:
    return tuple(t for policy in judged_clouds().values() for t in policy.databases)
