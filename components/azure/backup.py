"""Backups on Azure: a Data Protection backup vault with the weekly full backup of PostgreSQL and blobs.

How the one policy (full weekly, differential daily, logs every 5-10 minutes) maps onto Azure:
- weekly full: this vault's PostgreSQL policy, at `azure_full_repeating_interval(schedule)`, kept
  `retention_days` in the vault store (long-term, outside the server's own lifecycle);
- daily differential and log backups: the flexible server's own automated backups (daily snapshots plus
  continuous WAL archiving, restore to any second within `backup_retention_days`); Azure offers no
  separate differential job, and the WAL shipping is finer than every 5 minutes;
- documents: operational blob backup (point-in-time restore of the account) for `retention_days`.
The vault keeps its data zone-redundant, or geo-redundant when the paired region is in the jurisdiction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from opcloud.components.azure import keys as azure_keys
from opcloud.components.azure._common import (
    ROLE_POSTGRES_LTR_BACKUP,
    ROLE_READER,
    ROLE_STORAGE_ACCOUNT_BACKUP_CONTRIBUTOR,
    after,
    last_segment,
    paired_region_within,
    resource_group,
    role_definition_id,
    tags,
)
from opcloud.components.interfaces import BackupArgs, BackupOutputs, Placement
from pulumi_azure_native import authorization, dataprotection

from opcloud.schedules import azure_full_repeating_interval, azure_retention_duration

POSTGRES_DATASOURCE = "Microsoft.DBforPostgreSQL/flexibleServers"
BLOB_DATASOURCE = "Microsoft.Storage/storageAccounts/blobServices"
# Operational blob backup is limited to 360 days by Azure.
BLOB_RETENTION_MAX_DAYS = 360


def default_retention_rule(data_store: str, days: int) -> dataprotection.AzureRetentionRuleArgs:
    """The policy's default retention: recovery points in `data_store` are deleted after `days`."""
    return dataprotection.AzureRetentionRuleArgs(
        object_type="AzureRetentionRule",
        name="Default",
        is_default=True,
        lifecycles=[
            dataprotection.SourceLifeCycleArgs(
                delete_after=dataprotection.AbsoluteDeleteOptionArgs(
                    object_type="AbsoluteDeleteOption", duration=azure_retention_duration(days)
                ),
                source_data_store=dataprotection.DataStoreInfoBaseArgs(
                    object_type="DataStoreInfoBase", data_store_type=data_store
                ),
            )
        ],
    )


def vault_redundancy(placement: Placement) -> str:
    return "GeoRedundant" if paired_region_within(placement) else "ZoneRedundant"


@dataclass
class BackupNative:
    vault: dataprotection.BackupVault
    postgres_policy: dataprotection.BackupPolicy
    blob_policy: dataprotection.BackupPolicy
    instances: list[dataprotection.BackupInstance] = field(default_factory=list)
    grants: list[authorization.RoleAssignment] = field(default_factory=list)


class AzureBackups(pulumi.ComponentResource):
    """`protected_ids` are, in this order, the PostgreSQL server id (None for Azure SQL) and the storage account id."""

    outputs: BackupOutputs
    native: BackupNative

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:Backups", name, None, opts)
        placement = args.placement
        schedule = args.schedule
        keys = azure_keys.require_azure(args.keys)
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        vault_name = f"{placement.prefix}-backup"
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        vault = dataprotection.BackupVault(
            f"{name}-vault",
            resource_group_name=rg,
            location=placement.region,
            vault_name=vault_name,
            # The system identity reads the protected resources; the stack's identity unwraps the vault's key.
            identity=dataprotection.DppIdentityDetailsArgs(
                type="SystemAssigned,UserAssigned", user_assigned_identities=[azure_keys.key_identity(keys)]
            ),
            properties=dataprotection.BackupVaultArgs(
                storage_settings=[
                    dataprotection.StorageSettingArgs(datastore_type="VaultStore", type=vault_redundancy(placement))
                ],
                security_settings=dataprotection.SecuritySettingsArgs(
                    # Recovery points are encrypted with the stack's customer-managed key, like every store.
                    encryption_settings=dataprotection.EncryptionSettingsArgs(
                        state="Enabled",
                        infrastructure_encryption="Enabled",
                        key_vault_properties=dataprotection.CmkKeyVaultPropertiesArgs(key_uri=keys.key_id),
                        kek_identity=dataprotection.CmkKekIdentityArgs(
                            identity_type="UserAssigned", identity_id=keys.identity_id
                        ),
                    ),
                    # Locked immutability cannot be undone; Unlocked lets a reviewed change relax it.
                    immutability_settings=dataprotection.ImmutabilitySettingsArgs(
                        state="Locked" if placement.production else "Unlocked"
                    ),
                    soft_delete_settings=dataprotection.SoftDeleteSettingsArgs(
                        state="AlwaysOn" if placement.production else "On", retention_duration_in_days=14
                    ),
                ),
            ),
            tags=tags(placement),
            opts=child,
        )
        known_vault = after(vault, vault_name)

        postgres_policy = dataprotection.BackupPolicy(
            f"{name}-postgres-policy",
            resource_group_name=rg,
            vault_name=known_vault,
            backup_policy_name="postgres-weekly-full",
            properties=dataprotection.BackupPolicyArgs(
                object_type="BackupPolicy",
                datasource_types=[POSTGRES_DATASOURCE],
                policy_rules=[
                    dataprotection.AzureBackupRuleArgs(
                        object_type="AzureBackupRule",
                        name="weekly-full",
                        backup_parameters=dataprotection.AzureBackupParamsArgs(
                            object_type="AzureBackupParams", backup_type="Full"
                        ),
                        data_store=dataprotection.DataStoreInfoBaseArgs(
                            object_type="DataStoreInfoBase", data_store_type="VaultStore"
                        ),
                        trigger=dataprotection.ScheduleBasedTriggerContextArgs(
                            object_type="ScheduleBasedTriggerContext",
                            schedule=dataprotection.BackupScheduleArgs(
                                repeating_time_intervals=[azure_full_repeating_interval(schedule)],
                                time_zone="UTC",
                            ),
                            tagging_criteria=[
                                dataprotection.TaggingCriteriaArgs(
                                    is_default=True,
                                    tagging_priority=99,
                                    tag_info=dataprotection.RetentionTagArgs(tag_name="Default"),
                                )
                            ],
                        ),
                    ),
                    default_retention_rule("VaultStore", schedule.retention_days),
                ],
            ),
            opts=child,
        )

        blob_policy = dataprotection.BackupPolicy(
            f"{name}-blob-policy",
            resource_group_name=rg,
            vault_name=known_vault,
            backup_policy_name="blob-operational",
            properties=dataprotection.BackupPolicyArgs(
                object_type="BackupPolicy",
                datasource_types=[BLOB_DATASOURCE],
                policy_rules=[
                    default_retention_rule("OperationalStore", min(schedule.retention_days, BLOB_RETENTION_MAX_DAYS))
                ],
            ),
            opts=child,
        )

        self.native = BackupNative(vault, postgres_policy, blob_policy)
        protected = list(args.protected_ids)
        targets = [
            ("postgres", POSTGRES_DATASOURCE, POSTGRES_DATASOURCE, postgres_policy, ROLE_POSTGRES_LTR_BACKUP),
            (
                "blob",
                BLOB_DATASOURCE,
                "Microsoft.Storage/storageAccounts",
                blob_policy,
                ROLE_STORAGE_ACCOUNT_BACKUP_CONTRIBUTOR,
            ),
        ]
        for (key, datasource, resource_type, policy, role), resource_id in zip(targets, protected, strict=False):
            if resource_id is None:  # Azure SQL: the database keeps its own backups
                continue
            self._add_instance(
                name, placement, key, datasource, resource_type, policy, role, resource_id, known_vault, client
            )

        self.outputs = BackupOutputs(vault_id=vault.id, copy_vault_id=None)
        self.register_outputs({"vaultId": vault.id})

    def _add_instance(
        self,
        name: str,
        placement: Placement,
        key: str,
        datasource: str,
        resource_type: str,
        policy: dataprotection.BackupPolicy,
        role: str,
        resource_id: pulumi.Input[str],
        vault_name: pulumi.Output[str],
        client: pulumi.Output[authorization.GetClientConfigResult],
    ) -> None:
        """Let the vault's identity read the resource, then register it as a backup instance."""
        vault = self.native.vault
        principal = vault.identity.apply(lambda identity: identity.principal_id if identity else None)
        grants = [
            authorization.RoleAssignment(
                f"{name}-{key}-{suffix}",
                scope=resource_id,
                principal_id=principal,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(client.subscription_id, grant),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for suffix, grant in (("backup-role", role), ("reader", ROLE_READER))
        ]
        resource_name = last_segment(resource_id)
        instance = dataprotection.BackupInstance(
            f"{name}-{key}-instance",
            resource_group_name=resource_group(placement),
            vault_name=vault_name,
            backup_instance_name=resource_name.apply(lambda n: f"{key}-{n}"),
            properties=dataprotection.BackupInstanceArgs(
                object_type="BackupInstance",
                friendly_name=resource_name,
                data_source_info=dataprotection.DatasourceArgs(
                    object_type="Datasource",
                    datasource_type=datasource,
                    resource_id=resource_id,
                    resource_location=placement.region,
                    resource_name=resource_name,
                    resource_type=resource_type,
                    resource_uri=resource_id,
                ),
                policy_info=dataprotection.PolicyInfoArgs(policy_id=policy.id),
            ),
            tags=tags(placement),
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        self.native.grants.extend(grants)
        self.native.instances.append(instance)
