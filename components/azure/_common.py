"""Helpers shared by the Azure components: resource group, residency of redundant copies, role ids."""

from __future__ import annotations

from typing import Any, TypeVar

import pulumi
from opcloud.components import naming
from opcloud.components.interfaces import Placement

from opcloud import residency

T = TypeVar("T")

# Built-in Azure role definition ids (the same GUID in every subscription), for the platform and the stand.
ROLE_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
ROLE_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ROLE_READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
ROLE_STORAGE_ACCOUNT_BACKUP_CONTRIBUTOR = "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1"
ROLE_POSTGRES_LTR_BACKUP = "c088a766-074b-43ba-90d4-1fb21feae531"
ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_VIRTUAL_MACHINE_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"


def resource_group(placement: Placement) -> str:
    """Every component of a stack lives in the stack's one resource group, named from the prefix."""
    return naming.resource_group_name(placement.prefix)


def tags(placement: Placement, **extra: str) -> dict[str, str]:
    return {**placement.tags, **extra}


def paired_region_within(placement: Placement) -> bool:
    """True when Azure's geo-redundant copy (always the fixed paired region) stays in the jurisdiction.

    Geo-redundancy is used only when the stack asks for a copy region at all (`copy_region`) and the
    region's pair lies inside the jurisdiction; otherwise the copy is kept across availability zones.
    """
    if placement.copy_region is None:
        return False
    pair = residency.azure_pair(placement.region)
    if pair is None or pair not in residency.AZURE_REGIONS:
        return False
    return residency.region_within("azure", pair, placement.jurisdiction)


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
    )


def after(resource: pulumi.Resource, value: T) -> pulumi.Output[T]:
    """`value` as an output that waits for `resource`: a known name that still orders the deployment."""
    anchor: pulumi.Output[Any] = (
        resource.id if isinstance(resource, pulumi.CustomResource) else pulumi.Output.from_input(resource.urn)
    )
    return anchor.apply(lambda _: value)


def last_segment(resource_id: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(resource_id).apply(lambda value: value.rstrip("/").split("/")[-1])
