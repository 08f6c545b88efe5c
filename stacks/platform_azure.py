"""The platform on Azure: environment -> neutral Args -> the Azure components, in one resource group."""

from __future__ import annotations

import pulumi
from opcloud.components.azure import (
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
from opcloud.components.azure.flow_logs import AzureFlowLogs, FlowLogsArgs
from opcloud.components.azure.network import data_subnet
from opcloud.components.azure.scanning import AzureVulnerabilityScanning
from opcloud.components.azure.sql import AzureSqlDatabase, ColumnLabel
from opcloud.components.interfaces import VulnerabilityScanArgs
from opcloud.stacks.platform import (
    PlatformOutputs,
    app_args,
    audit_args,
    backup_args,
    database_args,
    document_store_args,
    keys_args,
    network_args,
    placement_of,
)

from opcloud.config.environment import Environment


def compose(environment: Environment) -> PlatformOutputs:
    placement = placement_of(environment)
    prefix = placement.prefix

    group = AzureResourceGroup(f"{prefix}-group", ResourceGroupArgs(placement=placement))
    in_group = pulumi.ResourceOptions(depends_on=[group])

    network = AzureNetwork(f"{prefix}-network", network_args(environment), opts=in_group)
    keys = AzureKeys(f"{prefix}-keys", keys_args(environment), opts=in_group)
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
    audit = AzureAudit(f"{prefix}-audit", audit_args(environment, keys.outputs), opts=in_group)
    workspace = audit.outputs.log_store_id
    AzureVulnerabilityScanning(
        f"{prefix}-audit-scanning", VulnerabilityScanArgs(placement), opts=pulumi.ResourceOptions(parent=audit)
    )

    documents = AzureDocumentStore(
        f"{prefix}-documents",
        document_store_args(environment, keys.outputs, network.outputs, workspace),
        opts=in_group,
    )
    db_args = database_args(environment, keys.outputs, network.outputs)
    sql: AzureSqlDatabase | None = None
    database: AzureDatabase | AzureSqlDatabase
    if environment.database.engine == "azuresql":
        database = sql = AzureSqlDatabase(f"{prefix}-database", db_args, opts=in_group)
    else:
        database = AzureDatabase(f"{prefix}-database", db_args, opts=in_group)
    # KeysArgs and DatabaseArgs carry no log target: the audit component watches them itself.
    audit.watch("vault", keys.native.vault.id)
    if keys.native.geo is not None:
        audit.watch("geo-vault", keys.native.geo.vault.id)
    if sql is None:
        audit.watch("postgres", database.outputs.server_id)
    else:
        # Azure SQL audit records reach Log Analytics through the master database's diagnostic setting.
        for role, server in (("primary", sql.native.primary), ("secondary", sql.native.secondary)):
            if server is not None:
                audit.watch(f"sql-{role}", pulumi.Output.concat(server.server.id, "/databases/master"))
    # NetworkArgs carries no log target either: the VNet's flow logs are wired here, where both are known.
    AzureFlowLogs(
        f"{prefix}-flow-logs",
        FlowLogsArgs(
            placement=placement,
            keys=keys.outputs,
            network_id=network.outputs.network_id,
            workspace_id=workspace,
            workspace_guid=audit.native.workspace.customer_id,
            retention_days=environment.audit.retention_days,
        ),
        opts=in_group,
    )

    # Azure SQL keeps its own backups (short- and long-term retention): the vault protects the rest.
    protected = [None if sql else database.outputs.server_id, documents.outputs.store_id]
    backups = AzureBackups(f"{prefix}-backups", backup_args(environment, keys.outputs, protected), opts=in_group)
    app = AzureAppTier(
        f"{prefix}-app",
        app_args(environment, keys.outputs, network.outputs, workspace),
        opts=pulumi.ResourceOptions(depends_on=[group, vault_endpoint]),
        ssh_public_key=environment.app.admin_ssh_public_key or "",
    )
    if sql is not None:
        # Only the API decrypts Always Encrypted columns; the documents service never reads them.
        api = app.native.scale_sets["api"]
        sql.grant_column_key("api", api.identity.apply(lambda identity: identity.principal_id if identity else ""))
        columns = environment.database.classified_columns
        sql.classify(
            placement,
            [ColumnLabel(c.schema_name, c.table, c.column, c.label, c.information_type) for c in columns],
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
