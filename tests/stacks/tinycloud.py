"""A cloud of one resource kind: the worked example of adding a cloud (ARCHITECTURE.md).

The composer below (a real one would live in stacks/platform_<cloud>.py and build ComponentResources from
components/<cloud>/) plus one `register(Cloud(...))` record: the environment model then accepts the cloud, its
regions are placed by the residency registry, and `stack synth` declares its platform.
"""

from __future__ import annotations

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
from opcloud.stacks.platform import PlatformOutputs

from opcloud.clouds import Cloud
from opcloud.config.environment import Environment

CLOUD = Cloud(
    name="tinycloud",
    regions={"tiny-kyiv-1": "UA", "tiny-kyiv-2": "UA", "tiny-warsaw-1": "PL"},
    composer=__name__,
    resource_packages=("tinycloud",),
)


class Volume(pulumi.CustomResource):
    def __init__(self, name: str, size_gb: int, region: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tinycloud:storage:Volume", name, {"sizeGb": size_gb, "region": region}, opts)


def compose(environment: Environment) -> PlatformOutputs:
    volume = Volume(f"{environment.stack_prefix}-documents", environment.database.storage_gb, environment.region)
    some = volume.id
    return PlatformOutputs(
        network=NetworkOutputs(some, [], [], [], {}),
        keys=KeysOutputs(some, None),
        documents=DocumentStoreOutputs(some, some, None),
        database=DatabaseOutputs(some, pulumi.Output.from_input(5432), some),
        backups=BackupOutputs(some, None),
        app=AppTierOutputs(some, some, some),
        audit=AuditOutputs(some, some),
    )
