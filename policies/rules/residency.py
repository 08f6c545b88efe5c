"""Residency: every data-holding resource, every copy of it and every provider stay in the jurisdiction.

Azure's geo-redundant options (GRS storage, geo backups, GeoRedundant vaults) copy to the region's
fixed pair, so the pair must lie in the jurisdiction too: for IE the pair (westeurope) is in NL.
"""

from __future__ import annotations

from collections.abc import Iterator

from opcloud.policies import iaas
from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_5_23,
    A_5_34,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
    stack_rule,
    unevaluated,
)

from opcloud import clouds, residency


def _place(cloud: str, region: str | None, jurisdiction: str | None, what: str) -> Verdict:
    if jurisdiction is None:
        return False, f"{what}: no jurisdiction known (stack config or 'jurisdiction' tag)"
    if region == res.UNKNOWN:
        return pending(f"{what}: the region")
    if region is None:
        return False, f"{what}: region cannot be established, so residency cannot be shown"
    country = res.country(cloud, region)
    if country is None:
        return False, f"{what}: {cloud} region {region!r} is not in the residency registry"
    if residency.within(jurisdiction, country):
        return True, f"{what} in {region} ({country}), inside {jurisdiction}"
    return False, f"{what} in {region} ({country}), outside jurisdiction {jurisdiction}"


def _place_address(what: str, address: str | None, jurisdiction: str | None) -> Verdict:
    """Residency of an IaaS host, volume or share by its address (a label cannot move it)."""
    if jurisdiction is None:
        return False, f"{what}: no jurisdiction known (stack config or 'jurisdiction' tag)"
    if not address or address == res.UNKNOWN:
        return unevaluated(f"{what}: no address to place it by")
    place = iaas.site_of(address)
    if place is None:
        return unevaluated(f"{what} at {address}: no site of the residency registry routes this address")
    site, country = place
    if residency.within(jurisdiction, country):
        return True, f"{what} at {address}: site {site} ({country}), inside {jurisdiction}"
    return False, f"{what} at {address}: site {site} ({country}), outside jurisdiction {jurisdiction}"


def _iaas_places(step: ResourceView, jurisdiction: str | None) -> list[Verdict]:
    """Every IaaS step runs on a host, placed by its address; volumes and shares by their server's."""
    verdicts = [_place_address(f"host {step.get('host')}", iaas.host_address(step), jurisdiction)]
    storage = iaas.storage_address(step)
    if iaas.kind(step) in ("iscsi-attach", "nfs-mount"):
        what = "iSCSI volume" if iaas.kind(step) == "iscsi-attach" else f"NFS share ({iaas.row(step)})"
        verdicts.append(_place_address(what, storage, jurisdiction))
    return verdicts


def _named(target: ResourceView | None, value: object) -> str:
    """A copy destination for people: the stack's resource, the ARN it names, or one not created yet."""
    if target is not None:
        return target.name
    return "not created yet" if value == res.UNKNOWN else str(value)


def _azure_pair(region: str | None) -> str | None:
    return residency.azure_pair(region) if region else None


def _copies(resource: ResourceView, stack: StackView) -> Iterator[tuple[str, str | None, str]]:
    """(cloud, region, what) of every copy this resource makes elsewhere."""
    ctx = stack.context
    if resource.type in res.S3_REPLICATION:
        for rule in res.as_list(resource.get("rules")):
            destination = (rule or {}).get("destination") or {}
            arn = destination.get("bucket")
            target, region = res.target_region(stack, arn)
            yield "aws", region, f"replica bucket {_named(target, arn)}"
    elif resource.type in res.BACKUP_PLAN:
        for rule in res.as_list(resource.get("rules")):
            for action in res.as_list((rule or {}).get("copyActions")):
                arn = (action or {}).get("destinationVaultArn")
                target, region = res.target_region(stack, arn)
                yield "aws", region, f"backup copy to vault {_named(target, arn)}"
    elif resource.type in res.RDS_BACKUP_REPLICATION:
        yield "aws", res.region_of(resource, ctx), "replicated automated backups"
    elif resource.type in res.RDS_INSTANCE and resource.get("replicateSourceDb"):
        yield "aws", res.region_of(resource, ctx), "read replica"
    elif resource.type in res.AZ_STORAGE and resource.get("sku.name") in res.AZ_GEO_SKUS:
        yield "azure", _azure_pair(res.region_of(resource, ctx)), f"geo-redundant copy ({resource.get('sku.name')})"
    elif resource.type in res.AZ_PG and res.truthy(resource.get("backup.geoRedundantBackup")):
        yield "azure", _azure_pair(res.region_of(resource, ctx)), "geo-redundant backup"
    elif resource.type in res.AZ_BACKUP_VAULT:
        for setting in res.as_list(resource.get("properties.storageSettings")):
            if (setting or {}).get("type") == "GeoRedundant":
                yield "azure", _azure_pair(res.region_of(resource, ctx)), "geo-redundant vault storage"


@resource_rule(
    name="data-residency",
    description="Every data store, replica and backup copy lies inside the stack's jurisdiction.",
    control=A_5_34,
    severity=Severity.CRITICAL,
    remediation="Move the store or its copy to a region of the jurisdiction (opcloud.residency lists them); "
    "on Azure use zone-redundant options where the region's pair lies abroad.",
    needs_stack=True,
)
def data_residency(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    ctx = stack.context
    jurisdiction = res.jurisdiction_of(resource, ctx)
    if iaas.kind(resource) is not None:
        return _iaas_places(resource, jurisdiction)
    verdicts = [_place(cloud, region, jurisdiction, what) for cloud, region, what in _copies(resource, stack)]
    if resource.type in res.data_stores():
        cloud = res.cloud_of(resource)
        verdicts.insert(0, _place(cloud, res.region_of(resource, ctx), jurisdiction, "data store"))
    return verdicts or None


# Explicit providers of each registered cloud: their type -> (cloud, the input naming their region).
PROVIDER_REGION_KEYS = {
    cloud.provider_type: (cloud.name, cloud.provider_region_input)
    for cloud in clouds.CLOUDS.values()
    if cloud.provider_type and cloud.provider_region_input
}


@stack_rule(
    name="provider-residency",
    description="Every cloud provider the stack configures, the default one included, points at a region "
    "inside the jurisdiction.",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="Configure the provider (aws:region, a copy-region provider) with a region of the jurisdiction.",
    not_applicable={
        "iaas": "a VM-only cloud has no provider region: hosts, volumes and shares are placed by "
        "address (data-residency)"
    },
)
def provider_residency(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    ctx = stack.context
    if ctx.cloud in ("aws", "azure"):
        # The default provider takes the stack's region (the environment model checks aws:region agrees).
        if ctx.region is None:
            yield None, None, "the default provider's region is not known"
        else:
            yield (None, *_place(ctx.cloud, ctx.region, ctx.jurisdiction, "default provider"))
    for resource in stack.of_type(*PROVIDER_REGION_KEYS):
        cloud, key = PROVIDER_REGION_KEYS[resource.type]
        region = resource.get(key)
        if not isinstance(region, str) or region == res.UNKNOWN:
            # A provider without a region inherits the stack's, checked above.
            continue
        if cloud == "azure":
            region = res.normalize_location(region)
        yield (resource, *_place(cloud, region, ctx.jurisdiction, "provider"))


RULES = (data_residency, provider_residency)
