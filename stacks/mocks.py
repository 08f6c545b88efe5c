"""A cloud's synth mocks: what its provider computes that the programs read, for offline synth.

Each registered cloud (opcloud/clouds.py) may name a module holding its `MOCKS` record; `stacks/synth.py` asks
the record of a resource's cloud, and the policy pack asks it which values point at a resource (its mock ARN).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from opcloud import clouds

MOCK_ACCOUNT = "123456789012"  # the account / subscription every mock id names


def _nothing(typ: str, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _no_aliases(typ: str, name: str) -> set[str]:
    return set()


@dataclass(frozen=True)
class CloudMocks:
    # (type, name, inputs) -> outputs the provider computes, laid over the inputs.
    computed: Callable[[str, str, Mapping[str, Any]], dict[str, Any]] = _nothing
    calls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # data source token -> its answer
    aliases: Callable[[str, str], set[str]] = _no_aliases  # (type, name) -> computed values that name it


NO_MOCKS = CloudMocks()


@cache
def _load(module: str) -> CloudMocks:
    mocks = getattr(importlib.import_module(module), "MOCKS", None)
    if not isinstance(mocks, CloudMocks):
        raise TypeError(f"{module} has no MOCKS record (a CloudMocks)")
    return mocks


def mocks_of_type(resource_type: str) -> CloudMocks:
    """The mocks of the cloud a resource type belongs to (none for a type no cloud registered)."""
    cloud = clouds.cloud_of_type(resource_type)
    record = clouds.CLOUDS.get(cloud) if cloud else None
    return _load(record.synth_mocks) if record and record.synth_mocks else NO_MOCKS


def call_result(token: str) -> dict[str, Any]:
    """The canned answer to a data source call, from the mocks of every registered cloud."""
    for record in clouds.CLOUDS.values():
        if record.synth_mocks and token in (calls := _load(record.synth_mocks).calls):
            return dict(calls[token])
    return {}
