"""The platform on Azure: environment -> neutral Args -> the Azure components, in one resource group."""

from __future__ import annotations

import pulumi

from components.azure import (
    AzureAppTier,
    AzureAudit,
    AzureBackups,
    AzureDatabase,
    AzureDocumentStore,
    AzureKeys,
    AzureNetwork,
    AzurePrivateEndpoint,
    AzureResourceGroup,
    PrivateEndpointArgs,
    ResourceGroupArgs,
)
from components.azure.network import data_subnet
from components.interfaces import (
    AppTierArgs,
    AuditArgs,
    BackupArgs,
    DatabaseArgs,
    DocumentStoreArgs,
    HostGroupSpec,
    KeysArgs,
    NetworkArgs,
)
from stacks.environment import Environment
from stacks.platform import PlatformOutputs, placement_of, schedule_of

# Optional, outside the validated `opcloud:` namespace until the environment model has a field for it:
# the operators' break-glass SSH key for the scale sets (without it, login is Entra ID only).


def compose(environment: Environment) -> PlatformOutputs:
    if environment.azure is None:  # the model already refuses this; kept for the type checker
        raise ValueError("opcloud:azure is required on Azure")
    placement = placement_of(environment)
    prefix = placement.prefix
    admin = [str(c) for c in environment.network.admin_cidrs]
    allowed = [str(c) for c in environment.network.allowed_cidrs]

    group = AzureResourceGroup(f"{prefix}-group", ResourceGroupArgs(placement=placement))
    in_group = pulumi.ResourceOptions(depends_on=[group])

    network = AzureNetwork(
        f"{prefix}-network",
        NetworkArgs(
            placement=placement,
            cidr=environment.network.cidr,
            zones=environment.network.zones,
            allowed_cidrs=allowed,
            admin_cidrs=admin,
        ),
        opts=in_group,
    )
    keys = AzureKeys(f"{prefix}-keys", KeysArgs(placement=placement, admin_cidrs=admin), opts=in_group)
    # KeysArgs carries no network, so the vault's private endpoint is wired here, where both are known.
    vault_endpoint = AzurePrivateEndpoint(
        f"{prefix}-vault-endpoint",
        PrivateEndpointArgs(
            placement=placement,
            target_id=keys.native.vault.id,
            group="vault",
            subnet_id=data_subnet(network.outputs),
            dns_zone_id=network.outputs.vault_dns_zone_id or "",
        ),
        opts=in_group,
    )
    audit = AzureAudit(
        f"{prefix}-audit",
        AuditArgs(placement=placement, keys=keys.outputs, retention_days=environment.audit.retention_days),
        opts=in_group,
    )
    workspace = audit.outputs.log_store_id

    storage = environment.storage
    documents = AzureDocumentStore(
        f"{prefix}-documents",
        DocumentStoreArgs(
            placement=placement,
            keys=keys.outputs,
            network=network.outputs,
            infrequent_after_days=storage.infrequent_after_days,
            archive_after_days=storage.archive_after_days,
            noncurrent_retention_days=storage.noncurrent_retention_days,
            soft_delete_days=storage.soft_delete_days,
            access_log_target=workspace,
        ),
        opts=in_group,
    )
    db = environment.database
    azure = environment.azure
    database = AzureDatabase(
        f"{prefix}-database",
        DatabaseArgs(
            placement=placement,
            keys=keys.outputs,
            network=network.outputs,
            engine_version=db.engine_version,
            size=db.size,
            storage_gb=db.storage_gb,
            database_name=db.name,
            high_availability=db.high_availability,
            deletion_protection=db.deletion_protection,
            backup_retention_days=environment.backup.retention_days,
            admin_cidrs=admin,
            admin_group={
                "tenantId": azure.tenant_id,
                "objectId": azure.admin_group_object_id,
                "name": azure.admin_group_name,
            },
        ),
        opts=in_group,
    )
    # KeysArgs and DatabaseArgs carry no log target: the audit component watches them itself.
    audit.watch("vault", keys.native.vault.id)
    audit.watch("postgres", database.outputs.server_id)

    backups = AzureBackups(
        f"{prefix}-backups",
        BackupArgs(
            placement=placement,
            keys=keys.outputs,
            schedule=schedule_of(environment),
            protected_ids=[database.outputs.server_id, documents.outputs.store_id],
        ),
        opts=in_group,
    )
    app_settings = environment.app
    app = AzureAppTier(
        f"{prefix}-app",
        AppTierArgs(
            placement=placement,
            keys=keys.outputs,
            network=network.outputs,
            domain=app_settings.domain,
            certificate=app_settings.certificate,
            api=HostGroupSpec(app_settings.api.size, app_settings.api.min, app_settings.api.max),
            docs=HostGroupSpec(app_settings.docs.size, app_settings.docs.min, app_settings.docs.max),
            allowed_cidrs=allowed,
            rate_limit=app_settings.rate_limit,
            log_target=workspace,
        ),
        opts=pulumi.ResourceOptions(depends_on=[group, vault_endpoint]),
        ssh_public_key=app_settings.admin_ssh_public_key or "",
    )
    return PlatformOutputs(
        network=network.outputs,
        keys=keys.outputs,
        documents=documents.outputs,
        database=database.outputs,
        backups=backups.outputs,
        app=app.outputs,
        audit=audit.outputs,
    )
