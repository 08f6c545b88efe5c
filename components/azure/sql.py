"""Azure SQL Database (Prokuria): a logical server pair in a failover group, no password anywhere.

The primary server lives in the stack's region, the secondary in the paired region when the copy region is
that pair (the environment model allows no other for Azure SQL). Each server: Entra-only administration (the
admin group), TLS 1.2 at least, public network access off (reached through a private endpoint; the IP rules
are the allow-list Azure applies only if public access is ever switched on), TDE whose protector is our key
in the Key Vault of the server's region, worn through the user-assigned identity of that region (both servers
may use both keys, as a failover needs), auditing to Log Analytics, Defender for SQL (threat protection) and
vulnerability assessment (express configuration: no storage account).
The database: zone-redundant, geo-redundant backup storage where the pair is inside the jurisdiction,
point-in-time restore over the short-term retention (7-35 days, differential backups every 12 hours, logs
every 5-10 minutes by the service), weekly long-term retention, and the failover group's automatic failover.
Always Encrypted: a column master key in the primary vault that only the app identity may use (`grant_column_key`);
no role of the servers reaches it, so the database never sees the plaintext of the encrypted columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

import pulumi
from opcloud.components.azure import keys as azure_keys
from opcloud.components.azure import network as azure_network
from opcloud.components.azure._common import (
    ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
    after,
    paired_region_within,
    resource_group,
    role_definition_id,
    tags,
)
from opcloud.components.interfaces import DatabaseArgs, DatabaseOutputs, Placement
from pulumi_azure_native import authorization, keyvault, network, privatedns, sql

from opcloud import residency

PORT = 1433
PRIVATE_DNS_ZONE = "privatelink.database.windows.net"
ROLE_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"  # Key Vault Crypto User: wrap/unwrap, sign/verify
COLUMN_KEY_NAME = "always-encrypted-cmk"
SHORT_TERM_MIN_DAYS, SHORT_TERM_MAX_DAYS = 7, 35  # the service's point-in-time restore window
DIFFERENTIAL_HOURS = 12
SKU_TIERS = {"GP": "GeneralPurpose", "BC": "BusinessCritical"}
# What the server audits to Log Analytics: logins, permission and schema changes, and every batch.
AUDIT_ACTIONS = (
    "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP",
    "FAILED_DATABASE_AUTHENTICATION_GROUP",
    "DATABASE_PERMISSION_CHANGE_GROUP",
    "DATABASE_PRINCIPAL_CHANGE_GROUP",
    "DATABASE_ROLE_MEMBER_CHANGE_GROUP",
    "SCHEMA_OBJECT_CHANGE_GROUP",
    "BATCH_COMPLETED_GROUP",
)


def server_name(prefix: str, role: str) -> str:
    """Azure SQL logical server: global DNS label, 1-63 of [a-z0-9-]."""
    return f"{prefix}-sql-{role}".lower()[:63].rstrip("-")


def sku_of(size: str) -> sql.SkuArgs:
    """A vCore SKU as the environment names it (GP_Gen5_4) -> Azure's name, tier, family and capacity."""
    tier, family, capacity = size.split("_")
    return sql.SkuArgs(name=f"{tier}_{family}", tier=SKU_TIERS[tier], family=family, capacity=int(capacity))


def short_term_days(retention_days: int) -> int:
    """The environment's retention inside the service's PITR window (longer keeping: weekly long-term retention)."""
    return max(SHORT_TERM_MIN_DAYS, min(retention_days, SHORT_TERM_MAX_DAYS))


def vault_name_of(key_uri: str) -> str:
    """`https://<vault>.vault.azure.net/keys/<key>` -> `<vault>`."""
    return key_uri.split("//", 1)[1].split(".", 1)[0]


def server_key_name(key_uri: str) -> str:
    """A versionless Key Vault key is registered on a server as `<vault>_<key>` (with a version: `_<version>`)."""
    path = key_uri.split(".vault.azure.net/keys/", 1)[1].strip("/")
    return "_".join([vault_name_of(key_uri), *path.split("/")])


def firewall_range(cidr: str) -> tuple[str, str]:
    network_ = IPv4Network(cidr)
    return str(network_.network_address), str(network_.broadcast_address)


@dataclass(frozen=True)
class ServerSpec:
    """One logical server of the pair: where it lives and which key and identity it wears."""

    role: str  # "primary" / "secondary"
    region: str
    key_uri: pulumi.Input[str]
    identity_id: pulumi.Input[str]


@dataclass
class ServerNative:
    server: sql.Server
    keys: list[sql.ServerKey]
    protector: sql.EncryptionProtector
    auditing: sql.ExtendedServerBlobAuditingPolicy
    threat_protection: sql.ServerSecurityAlertPolicy
    vulnerability_assessment: sql.SqlVulnerabilityAssessmentsSetting
    firewall: list[sql.FirewallRule]
    endpoint: network.PrivateEndpoint


@dataclass
class AzureSqlNative:
    primary: ServerNative
    secondary: ServerNative | None
    database: sql.Database
    short_term: sql.BackupShortTermRetentionPolicy
    long_term: sql.LongTermRetentionPolicy
    failover_group: sql.FailoverGroup | None
    column_key: keyvault.Key
    dns_zone: privatedns.PrivateZone
    cross_key_access: list[authorization.RoleAssignment] = field(default_factory=list)
    column_key_users: list[authorization.RoleAssignment] = field(default_factory=list)
    locks: list[authorization.ManagementLockByScope] = field(default_factory=list)


class AzureSqlDatabase(pulumi.ComponentResource):
    """Azure SQL Database behind the same neutral contract as AzureDatabase (PostgreSQL)."""

    outputs: DatabaseOutputs
    native: AzureSqlNative

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The last segment names the design table's part ("Database"), as for PostgreSQL.
        super().__init__("opcloud:azuresql:Database", name, None, opts)
        self._name = name
        self._placement = placement = args.placement
        keys = azure_keys.require_azure(args.keys)
        net = azure_network.require_azure(args.network)
        if not {"tenantId", "objectId", "name"} <= set(args.admin_group):
            raise ValueError("DatabaseArgs.admin_group needs tenantId, objectId and name of the Entra admin group")
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        self._client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        dns_zone = privatedns.PrivateZone(
            f"{name}-dns",
            resource_group_name=rg,
            location="global",
            private_zone_name=PRIVATE_DNS_ZONE,
            tags=tags(placement),
            opts=child,
        )
        dns_link = privatedns.VirtualNetworkLink(
            f"{name}-dns-link",
            resource_group_name=rg,
            location="global",
            private_zone_name=after(dns_zone, PRIVATE_DNS_ZONE),
            virtual_network_link_name=f"{placement.prefix}-sql-link",
            virtual_network=privatedns.SubResourceArgs(id=net.network_id),
            registration_enabled=False,
            tags=tags(placement),
            opts=child,
        )
        dns_zone_id = pulumi.Output.all(dns_zone.id, dns_link.id).apply(lambda ids: ids[0])
        subnet_id = azure_network.data_subnet(net)

        specs = [ServerSpec("primary", placement.region, keys.key_id, azure_keys.key_identity(keys))]
        pair = residency.azure_pair(placement.region)
        # The secondary goes where the keys component put the paired-region key: only inside the jurisdiction.
        if (
            paired_region_within(placement)
            and pair
            and keys.copy_key_id is not None
            and keys.geo_identity_id is not None
        ):
            specs.append(ServerSpec("secondary", pair, keys.copy_key_id, keys.geo_identity_id))
        key_uris = [spec.key_uri for spec in specs]
        servers = [self._server(spec, args, key_uris, subnet_id, dns_zone_id, rg) for spec in specs]
        primary, secondary = servers[0], (servers[1] if len(servers) > 1 else None)
        cross = self._cross_key_access(keys) if secondary is not None else []

        database = sql.Database(
            f"{name}-database",
            resource_group_name=rg,
            location=placement.region,
            server_name=after(primary.server, server_name(placement.prefix, "primary")),
            database_name=args.database_name,
            sku=sku_of(args.size),
            max_size_bytes=args.storage_gb * 1024**3,
            zone_redundant=args.high_availability,
            # Backups copied to the paired region only where the pair lies in the jurisdiction.
            requested_backup_storage_redundancy="Geo" if secondary is not None else "Zone",
            collation="SQL_Latin1_General_CP1_CI_AS",
            tags=tags(placement),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[primary.protector]),  # encrypted from the start
        )
        database_name = after(database, args.database_name)
        known_primary = after(primary.server, server_name(placement.prefix, "primary"))
        short_term = sql.BackupShortTermRetentionPolicy(
            f"{name}-short-term-retention",
            resource_group_name=rg,
            server_name=known_primary,
            database_name=database_name,
            policy_name="default",
            retention_days=short_term_days(args.backup_retention_days),
            diff_backup_interval_in_hours=DIFFERENTIAL_HOURS,
            opts=child,
        )
        long_term = sql.LongTermRetentionPolicy(
            f"{name}-long-term-retention",
            resource_group_name=rg,
            server_name=known_primary,
            database_name=database_name,
            policy_name="default",
            weekly_retention=f"P{args.weekly_retention_weeks}W",
            opts=child,
        )
        failover_group = None
        endpoint_host = f"{server_name(placement.prefix, 'primary')}.database.windows.net"
        if secondary is not None:
            group_name = f"{placement.prefix}-sql"
            failover_group = sql.FailoverGroup(
                f"{name}-failover-group",
                resource_group_name=rg,
                server_name=known_primary,
                failover_group_name=group_name,
                partner_servers=[sql.PartnerInfoArgs(id=secondary.server.id)],
                databases=[database.id],
                read_write_endpoint=sql.FailoverGroupReadWriteEndpointArgs(
                    failover_policy="Automatic", failover_with_data_loss_grace_period_minutes=60
                ),
                tags=tags(placement),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[secondary.protector, *cross]),
            )
            endpoint_host = f"{group_name}.database.windows.net"  # follows the primary across a failover

        column_key = self._column_key(keys, rg)
        locks = []
        if args.deletion_protection:
            locks = [
                authorization.ManagementLockByScope(
                    f"{name}-{role}-lock",
                    scope=server.server.id,
                    lock_name=f"{server_name(placement.prefix, role)}-no-delete",
                    level="CanNotDelete",
                    notes="deletion protection: remove this lock deliberately before deleting the server",
                    opts=child,
                )
                for role, server in (("primary", primary), ("secondary", secondary))
                if server is not None
            ]
        self.native = AzureSqlNative(
            primary, secondary, database, short_term, long_term, failover_group, column_key, dns_zone, cross, [], locks
        )
        self.outputs = DatabaseOutputs(
            endpoint=after(failover_group or primary.server, endpoint_host),
            port=pulumi.Output.from_input(PORT),
            server_id=primary.server.id,
        )
        self.register_outputs({"endpoint": self.outputs.endpoint, "serverId": primary.server.id})

    # -------------------------------------------------------------------------------------------- servers

    def _server(
        self,
        spec: ServerSpec,
        args: DatabaseArgs,
        key_uris: Sequence[pulumi.Input[str]],
        subnet_id: pulumi.Input[str],
        dns_zone_id: pulumi.Input[str],
        rg: str,
    ) -> ServerNative:
        placement = args.placement
        name = f"{self._name}-{spec.role}"
        child = pulumi.ResourceOptions(parent=self)
        sql_name = server_name(placement.prefix, spec.role)
        server = sql.Server(
            f"{name}-server",
            resource_group_name=rg,
            location=spec.region,
            server_name=sql_name,
            version="12.0",
            minimal_tls_version="1.2",
            public_network_access="Disabled",
            administrators=sql.ServerExternalAdministratorArgs(
                administrator_type="ActiveDirectory",
                azure_ad_only_authentication=True,
                principal_type="Group",
                login=args.admin_group["name"],
                sid=args.admin_group["objectId"],
                tenant_id=args.admin_group["tenantId"],
            ),
            identity=sql.ResourceIdentityArgs(
                type="UserAssigned",
                user_assigned_identities=[spec.identity_id],
            ),
            primary_user_assigned_identity_id=spec.identity_id,
            key_id=spec.key_uri,
            tags=tags(placement),
            opts=child,
        )
        known = after(server, sql_name)
        # Both regions' keys are registered on both servers: a failover must still unwrap the other's DEKs.
        server_keys = [
            sql.ServerKey(
                f"{name}-key-{i}",
                resource_group_name=rg,
                server_name=known,
                key_name=pulumi.Output.from_input(uri).apply(server_key_name),
                server_key_type="AzureKeyVault",
                uri=uri,
                opts=child,
            )
            for i, uri in enumerate(key_uris)
        ]
        protector = sql.EncryptionProtector(
            f"{name}-tde-protector",
            resource_group_name=rg,
            server_name=known,
            encryption_protector_name="current",
            server_key_type="AzureKeyVault",
            server_key_name=pulumi.Output.from_input(spec.key_uri).apply(server_key_name),
            auto_rotation_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=server_keys),
        )
        auditing = sql.ExtendedServerBlobAuditingPolicy(
            f"{name}-auditing",
            resource_group_name=rg,
            server_name=known,
            blob_auditing_policy_name="default",
            state=sql.BlobAuditingPolicyState.ENABLED,
            is_azure_monitor_target_enabled=True,  # to Log Analytics through the master database's diagnostics
            is_devops_audit_enabled=True,
            audit_actions_and_groups=list(AUDIT_ACTIONS),
            opts=child,
        )
        threat_protection = sql.ServerSecurityAlertPolicy(
            f"{name}-threat-protection",
            resource_group_name=rg,
            server_name=known,
            security_alert_policy_name="Default",
            state=sql.SecurityAlertsPolicyState.ENABLED,
            email_account_admins=True,
            opts=child,
        )
        vulnerability_assessment = sql.SqlVulnerabilityAssessmentsSetting(
            f"{name}-vulnerability-assessment",
            resource_group_name=rg,
            server_name=known,
            vulnerability_assessment_name="default",
            state=sql.SqlVulnerabilityAssessmentState.ENABLED,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[threat_protection]),
        )
        firewall = []
        for i, cidr in enumerate(args.admin_cidrs):
            start, end = firewall_range(cidr)
            firewall.append(
                sql.FirewallRule(
                    f"{name}-allow-{i}",
                    resource_group_name=rg,
                    server_name=known,
                    firewall_rule_name=f"admin-{i}",
                    start_ip_address=start,
                    end_ip_address=end,
                    opts=child,
                )
            )
        endpoint_name = f"{placement.prefix}-sql-{spec.role}-pe"
        endpoint = network.PrivateEndpoint(
            f"{name}-endpoint",
            resource_group_name=rg,
            location=placement.region,  # in the stack's VNet, whichever region the server is in
            private_endpoint_name=endpoint_name,
            subnet=network.SubnetArgs(id=subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=f"{endpoint_name}-connection", private_link_service_id=server.id, group_ids=["sqlServer"]
                )
            ],
            tags=tags(placement),
            opts=child,
        )
        network.PrivateDnsZoneGroup(
            f"{name}-endpoint-dns",
            resource_group_name=rg,
            private_endpoint_name=after(endpoint, endpoint_name),
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[
                network.PrivateDnsZoneConfigArgs(name="sqlServer", private_dns_zone_id=dns_zone_id)
            ],
            opts=child,
        )
        return ServerNative(
            server, server_keys, protector, auditing, threat_protection, vulnerability_assessment, firewall, endpoint
        )

    def _cross_key_access(self, keys: azure_keys.AzureKeysOutputs) -> list[authorization.RoleAssignment]:
        """Each region's identity may use the other region's key too (TDE across a failover)."""
        pairs = [
            ("primary-on-geo-key", keys.geo_key_resource_id, keys.identity_principal_id),
            ("secondary-on-key", keys.key_resource_id, keys.geo_identity_principal_id),
        ]
        return [
            authorization.RoleAssignment(
                f"{self._name}-{label}",
                scope=scope,
                principal_id=principal,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(
                    self._client.subscription_id, ROLE_CRYPTO_SERVICE_ENCRYPTION_USER
                ),
                description="the failover partner's TDE protector must stay usable after a failover",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for label, scope, principal in pairs
            if scope is not None and principal is not None
        ]

    # ---------------------------------------------------------------------------------- Always Encrypted

    def _column_key(self, keys: azure_keys.AzureKeysOutputs, rg: str) -> keyvault.Key:
        """The column master key: wraps the column encryption keys on the client; the servers have no role on it."""
        return keyvault.Key(
            f"{self._name}-column-master-key",
            resource_group_name=rg,
            vault_name=pulumi.Output.from_input(keys.key_id).apply(vault_name_of),
            key_name=COLUMN_KEY_NAME,
            properties=keyvault.KeyPropertiesArgs(
                kty="RSA-HSM",
                key_size=azure_keys.KEY_SIZE,
                # Always Encrypted wraps CEKs (RSA-OAEP) and signs the CMK metadata.
                key_ops=["wrapKey", "unwrapKey", "sign", "verify"],
                attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
                # A new version leaves the old one usable: re-wrapping the CEKs is a deliberate step (README).
                rotation_policy=azure_keys.rotation_policy(365),
            ),
            tags=tags(self._placement),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_column_key(self, who: str, principal_id: pulumi.Input[str]) -> authorization.RoleAssignment:
        """Let the app identity `who` use the column master key (the app tier exists after the database)."""
        assignment = authorization.RoleAssignment(
            f"{self._name}-column-key-{who}",
            scope=self.native.column_key.id,
            principal_id=principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(self._client.subscription_id, ROLE_CRYPTO_USER),
            description=f"Always Encrypted: the {who} service decrypts the encrypted columns, the database cannot",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.native.column_key_users.append(assignment)
        return assignment

    def classify(self, placement: Placement, columns: Sequence[ColumnLabel]) -> list[sql.SensitivityLabel]:
        """Sensitivity labels of columns that exist. The API labels a column of an existing table only: at the
        first deployment the schema is not there yet (the app's migrations create it), so the labels are
        declared from the environment's list once the tables exist (a later `up`)."""
        rg = resource_group(placement)
        known = after(self.native.database, server_name(placement.prefix, "primary"))
        labels = []
        for column in columns:
            labels.append(
                sql.SensitivityLabel(
                    f"{self._name}-label-{column.schema}-{column.table}-{column.column}".lower(),
                    resource_group_name=rg,
                    server_name=known,
                    database_name=self.native.database.name,
                    schema_name=column.schema,
                    table_name=column.table,
                    column_name=column.column,
                    sensitivity_label_source="current",
                    label_name=column.label,
                    information_type=column.information_type,
                    rank=sql.SensitivityLabelRank(column.rank),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return labels


@dataclass(frozen=True)
class ColumnLabel:
    schema: str
    table: str
    column: str
    label: str
    information_type: str
    rank: str = "Medium"
