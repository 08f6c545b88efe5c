"""PostgreSQL on Azure: a Flexible Server (API 2025-08-01) inside a delegated subnet, no password anywhere.

Private by construction (VNet integration, public access Disabled), zone-redundant HA, automated backups
with point-in-time restore, customer-managed key through the stack's user-assigned identity, and Entra ID
as the only way to log in: the admin group from the environment is the server's administrator.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from opcloud.components import naming
from opcloud.components.azure import keys as azure_keys
from opcloud.components.azure import network as azure_network
from opcloud.components.azure._common import after, paired_region_within, resource_group, tags
from opcloud.components.interfaces import DatabaseArgs, DatabaseOutputs, Placement
from pulumi_azure_native import authorization, dbforpostgresql

PORT = 5432
# Server parameters that make every connection encrypted and every session accountable.
SERVER_PARAMETERS: dict[str, str] = {
    "require_secure_transport": "ON",
    "ssl_min_protocol_version": "TLSv1.2",
    "log_connections": "ON",
    "log_disconnections": "ON",
    "log_checkpoints": "ON",
    "connection_throttle.enable": "ON",
    "shared_preload_libraries": "pgaudit",
    "pgaudit.log": "DDL,ROLE,WRITE",
}


def sku_tier(size: str) -> str:
    """The SKU tier Azure expects beside the SKU name (Standard_D4ds_v5 -> GeneralPurpose)."""
    family = size.removeprefix("Standard_")[:1].upper()
    if family == "B":
        return "Burstable"
    if family == "E":
        return "MemoryOptimized"
    return "GeneralPurpose"


def geo_redundant_backup(placement: Placement) -> str:
    """Geo backups go to the fixed paired region: Enabled only when that pair is inside the jurisdiction.

    Otherwise the backups stay in zone-redundant backup storage in the primary region, which keeps the
    copy in other availability zones (separate data centres) of the same country.
    """
    return "Enabled" if paired_region_within(placement) else "Disabled"


def data_encryption(
    keys: azure_keys.AzureKeysOutputs, geo_backup: bool
) -> tuple[dbforpostgresql.DataEncryptionArgs, list[pulumi.Output[str]]]:
    """The server's customer-managed keys and the identities it must wear to use them.

    Geo-redundant backups are encrypted in the paired region with that region's key and identity: without
    them Azure would keep the geo copy under a service-managed key.
    """
    assert keys.identity_id is not None
    if not geo_backup:
        args = dbforpostgresql.DataEncryptionArgs(
            type="AzureKeyVault", primary_key_uri=keys.key_id, primary_user_assigned_identity_id=keys.identity_id
        )
        return args, [keys.identity_id]
    if keys.copy_key_id is None or keys.geo_identity_id is None:
        raise ValueError("geo-redundant backups need the keys component's paired-region key and identity")
    args = dbforpostgresql.DataEncryptionArgs(
        type="AzureKeyVault",
        primary_key_uri=keys.key_id,
        primary_user_assigned_identity_id=keys.identity_id,
        geo_backup_key_uri=keys.copy_key_id,
        geo_backup_user_assigned_identity_id=keys.geo_identity_id,
    )
    return args, [keys.identity_id, keys.geo_identity_id]


@dataclass
class DatabaseNative:
    server: dbforpostgresql.Server
    administrator: dbforpostgresql.AdministratorsMicrosoftEntra
    parameters: dict[str, dbforpostgresql.Configuration]
    database: dbforpostgresql.Database
    lock: authorization.ManagementLockByScope | None


class AzureDatabase(pulumi.ComponentResource):
    outputs: DatabaseOutputs
    native: DatabaseNative

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:Database", name, None, opts)
        placement = args.placement
        keys = azure_keys.require_azure(args.keys)
        net = azure_network.require_azure(args.network)
        if not {"tenantId", "objectId", "name"} <= set(args.admin_group):
            raise ValueError("DatabaseArgs.admin_group needs tenantId, objectId and name of the Entra admin group")
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        server_name = naming.database_server_name(placement.prefix)
        geo_backup = geo_redundant_backup(placement)
        encryption, identities = data_encryption(keys, geo_backup == "Enabled")

        server = dbforpostgresql.Server(
            f"{name}-server",
            resource_group_name=rg,
            location=placement.region,
            server_name=server_name,
            version=args.engine_version,
            sku=dbforpostgresql.SkuArgs(name=args.size, tier=sku_tier(args.size)),
            storage=dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
            availability_zone="1",
            high_availability=dbforpostgresql.HighAvailabilityArgs(
                mode="ZoneRedundant" if args.high_availability else "Disabled",
                standby_availability_zone="2" if args.high_availability else None,
            ),
            backup=dbforpostgresql.BackupArgs(
                backup_retention_days=args.backup_retention_days,
                geo_redundant_backup=geo_backup,
            ),
            network=dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=net.postgres_subnet_id,
                private_dns_zone_arm_resource_id=net.postgres_dns_zone_id,
                public_network_access="Disabled",
            ),
            auth_config=dbforpostgresql.AuthConfigArgs(
                active_directory_auth="Enabled",
                password_auth="Disabled",
                tenant_id=args.admin_group["tenantId"],
            ),
            identity=dbforpostgresql.UserAssignedIdentityArgs(
                type="UserAssigned",
                user_assigned_identities=pulumi.Output.all(*identities).apply(
                    lambda ids: {identity: dbforpostgresql.UserIdentityArgs() for identity in ids}
                ),
            ),
            data_encryption=encryption,
            tags=tags(placement),
            opts=child,
        )
        known_server = after(server, server_name)

        administrator = dbforpostgresql.AdministratorsMicrosoftEntra(
            f"{name}-entra-admin",
            resource_group_name=rg,
            server_name=known_server,
            object_id=args.admin_group["objectId"],
            principal_name=args.admin_group["name"],
            principal_type="Group",
            tenant_id=args.admin_group["tenantId"],
            opts=child,
        )

        # Parameters are written one at a time: the server restarts or locks on concurrent updates.
        parameters: dict[str, dbforpostgresql.Configuration] = {}
        previous: list[pulumi.Resource] = [administrator]
        for parameter, value in SERVER_PARAMETERS.items():
            configuration = dbforpostgresql.Configuration(
                f"{name}-{parameter.replace('_', '-').replace('.', '-')}",
                resource_group_name=rg,
                server_name=known_server,
                configuration_name=parameter,
                value=value,
                source="user-override",
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            parameters[parameter] = configuration
            previous = [configuration]

        database = dbforpostgresql.Database(
            f"{name}-database",
            resource_group_name=rg,
            server_name=known_server,
            database_name=args.database_name,
            charset="UTF8",
            collation="en_US.utf8",
            opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
        )

        lock = None
        if args.deletion_protection:
            lock = authorization.ManagementLockByScope(
                f"{name}-lock",
                scope=server.id,
                lock_name=f"{server_name}-no-delete",
                level="CanNotDelete",
                notes="deletion protection: remove this lock deliberately before deleting the server",
                opts=child,
            )

        self.native = DatabaseNative(server, administrator, parameters, database, lock)
        self.outputs = DatabaseOutputs(
            endpoint=after(server, f"{server_name}.postgres.database.azure.com"),
            port=pulumi.Output.from_input(PORT),
            server_id=server.id,
        )
        self.register_outputs({"endpoint": self.outputs.endpoint, "serverId": server.id})
