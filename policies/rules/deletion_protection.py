"""Deletion protection on production data: nothing holding data can be deleted by one careless command."""

from __future__ import annotations

from opcloud.policies import iaas
from opcloud.policies import resources as res
from opcloud.policies.model import A_5_33, ResourceView, Severity, StackView, Verdict, resource_rule


def _azure_locked(resource: ResourceView, stack: StackView) -> Verdict:
    for lock in stack.of_type(*res.AZ_LOCKS):
        if str(lock.get("level", "")) not in ("CanNotDelete", "ReadOnly"):
            continue
        if stack.points_at(lock, "scope", resource) or stack.points_at(lock, "resourceName", resource):
            return True, f"management lock {lock.name} ({lock.get('level')})"
        if lock.type.endswith("AtResourceGroupLevel") and lock.get("resourceGroupName") == resource.get(
            "resourceGroupName"
        ):
            return True, f"resource group lock {lock.name} ({lock.get('level')})"
    return False, "no CanNotDelete management lock on the resource or its resource group"


@resource_rule(
    name="deletion-protection",
    description="Production data stores are protected against deletion.",
    control=A_5_33,
    severity=Severity.HIGH,
    remediation="RDS deletionProtection true and a final snapshot; no forceDestroy on buckets and vaults; a "
    "CanNotDelete lock and purge protection on Azure.",
    needs_stack=True,
    not_applicable={"non-production": "only production data stores must survive a careless delete"},
)
def deletion_protection(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if not stack.context.production:
        return None
    t = resource.type
    if t in res.RDS_INSTANCE or t in res.RDS_CLUSTER:
        if not res.truthy(resource.get("deletionProtection")):
            return [(False, "deletionProtection is not true")]
        if res.truthy(resource.get("skipFinalSnapshot")):
            return [(False, "skipFinalSnapshot is true: deleting it would leave no snapshot")]
        return [(True, "deletion protection on, final snapshot kept")]
    if t in res.S3_BUCKET or t in res.BACKUP_VAULT:
        if res.truthy(resource.get("forceDestroy")):
            return [(False, "forceDestroy is true: deleting the stack would delete the data")]
        return [(True, "not force-destroyable")]
    if t in res.AZ_KEY_VAULT:
        if not res.truthy(resource.get("properties.enablePurgeProtection")):
            return [(False, "purge protection is off: a deleted vault (and every key) could be purged")]
        return [(True, "purge protection on")]
    if t in res.AZ_BACKUP_VAULT:
        security = resource.get("properties.securitySettings") or {}
        soft_delete = (security.get("softDeleteSettings") or {}).get("state")
        immutability = (security.get("immutabilitySettings") or {}).get("state")
        if soft_delete == "AlwaysOn" and immutability == "Locked":
            # Neither can be turned off again: recovery points outlive any delete until they expire.
            return [(True, "soft delete AlwaysOn and immutability Locked")]
        verdict = _azure_locked(resource, stack)
        if verdict[0]:
            return [verdict]
        return [(False, f"soft delete {soft_delete or 'off'}, immutability {immutability or 'off'}, and no lock")]
    if t in res.AZ_PG or t in res.AZ_SQL or t in res.AZ_STORAGE:
        return [_azure_locked(resource, stack)]
    if iaas.kind(resource) in iaas.DATA_KINDS:
        return [_host_step_kept(resource)]
    return None


def _host_step_kept(step: ResourceView) -> Verdict:
    """IaaS: deleting a host step leaves the host as it is; LUKS must also refuse to format a volume with data."""
    if iaas.kind(step) == "luks" and "refusing to format" not in str(step.get("apply", "")):
        return False, "the LUKS step may format a volume that already holds data"
    return True, "deleting the stack leaves the data on the host (host steps are never undone)"


RULES = (deletion_protection,)
