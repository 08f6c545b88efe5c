"""The stack's resource group: every Azure component of a stack lives in it (name from the prefix)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from opcloud.components.azure._common import resource_group, tags
from opcloud.components.interfaces import Placement
from pulumi_azure_native import resources


@dataclass(frozen=True)
class ResourceGroupArgs:
    placement: Placement


@dataclass
class ResourceGroupNative:
    group: resources.ResourceGroup


class AzureResourceGroup(pulumi.ComponentResource):
    """Declared first; the other components depend on it and use the same deterministic name."""

    native: ResourceGroupNative
    name: pulumi.Output[str]

    def __init__(self, name: str, args: ResourceGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:ResourceGroup", name, None, opts)
        placement = args.placement
        group_name = resource_group(placement)
        group = resources.ResourceGroup(
            f"{name}-group",
            resource_group_name=group_name,
            location=placement.region,
            tags=tags(placement),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.native = ResourceGroupNative(group)
        self.name = group.id.apply(lambda _: group_name)
        self.register_outputs({"name": self.name})
