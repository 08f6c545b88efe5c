"""A cloud of one resource kind: the worked example of adding a cloud (ARCHITECTURE.md).

The composer below (a real one would live in stacks/platform_<cloud>.py and build ComponentResources from
components/<cloud>/), its policy adapter and synth mocks (policies/<cloud>.py and stacks/mocks_<cloud>.py for a
real one) plus one `register(Cloud(...))` record: the environment model then accepts the cloud, its regions are
placed by the residency registry, `stack synth` declares its platform and `stack check` judges it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from opcloud.components.interfaces import (
    AppTierOutputs,
    AuditOutputs,
    BackupOutputs,
    DatabaseOutputs,
    DocumentStoreOutputs,
    KeysOutputs,
    NetworkOutputs,
)
from opcloud.policies.adapter import CloudPolicy
from opcloud.stacks.mocks import CloudMocks
from opcloud.stacks.platform import PlatformOutputs

from opcloud.clouds import Cloud
from opcloud.config.environment import Environment

CLOUD = Cloud(
    name="tinycloud",
    regions={"tiny-kyiv-1": "UA", "tiny-kyiv-2": "UA", "tiny-warsaw-1": "PL"},
    composer=__name__,
    resource_packages=("tinycloud",),
    policy_adapter=__name__,
    synth_mocks=__name__,
)
# The same cloud as it would be registered before its policy adapter is written: the pack cannot judge it.
UNJUDGED = Cloud(name="tinycloud", regions=CLOUD.regions, composer=__name__, resource_packages=("tinycloud",))

# How the rules read it: volumes hold data and name their region in `region`.
POLICY = CloudPolicy(data_stores=("tinycloud:storage:Volume",), data_namespaces=frozenset(["storage"]))


def _computed(typ: str, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    return {"url": f"tiny://{state['region']}/{name}"} if typ == "tinycloud:storage:Volume" else {}


MOCKS = CloudMocks(computed=_computed)


class Volume(pulumi.CustomResource):
    def __init__(self, name: str, size_gb: int, region: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tinycloud:storage:Volume", name, {"sizeGb": size_gb, "region": region, "url": None}, opts)

    url: pulumi.Output[str]  # computed by the cloud (set from the provider's outputs)


def compose(environment: Environment) -> PlatformOutputs:
    volume = Volume(f"{environment.stack_prefix}-documents", environment.database.storage_gb, environment.region)
    some = volume.id
    return PlatformOutputs(
        network=NetworkOutputs(some, [], [], [], {}),
        keys=KeysOutputs(some, None),
        documents=DocumentStoreOutputs(volume.url, some, None),
        database=DatabaseOutputs(some, pulumi.Output.from_input(5432), some),
        backups=BackupOutputs(some, None),
        app=AppTierOutputs(some, some, some),
        audit=AuditOutputs(some, some),
    )
