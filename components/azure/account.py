"""A locked-down StorageV2 account under the stack's Key Vault key: the documents and the flow logs use it."""

from __future__ import annotations

from typing import Literal

import pulumi
from opcloud.components.azure._common import paired_region_within, resource_group, tags
from opcloud.components.azure.keys import AzureKeysOutputs, key_identity
from opcloud.components.interfaces import Placement
from pulumi_azure_native import storage

SAS_EXPIRATION_PERIOD = "0.08:00:00"  # d.hh:mm:ss


def storage_sku(placement: Placement) -> str:
    """Standard_GRS when the paired region is inside the jurisdiction, else copies across zones (ZRS)."""
    return "Standard_GRS" if paired_region_within(placement) else "Standard_ZRS"


def secure_account(
    name: str,
    placement: Placement,
    keys: AzureKeysOutputs,
    account_name: str,
    parent: pulumi.Resource,
    public_network_access: Literal["Disabled", "Enabled"] = "Disabled",
    **extra_tags: str,
) -> storage.StorageAccount:
    """TLS 1.2+, HTTPS only, no public blobs, no shared keys, default-deny firewall, double encryption
    with the stack's customer-managed key. `public_network_access` "Enabled" still denies every network
    by default and admits only trusted Azure services (Network Watcher writing flow logs)."""
    return storage.StorageAccount(
        name,
        resource_group_name=resource_group(placement),
        location=placement.region,
        account_name=account_name,
        kind="StorageV2",
        sku=storage.SkuArgs(name=storage_sku(placement)),
        access_tier=storage.AccessTier.HOT,
        minimum_tls_version="TLS1_2",
        enable_https_traffic_only=True,
        allow_blob_public_access=False,
        allow_shared_key_access=False,  # Entra ID only: no account keys, no SAS signed by them
        default_to_o_auth_authentication=True,
        allow_cross_tenant_replication=False,
        allowed_copy_scope="PrivateLink",
        is_local_user_enabled=False,  # no SFTP/local users: Entra ID is the only way in
        # With shared keys off only user-delegation SAS exist; none may outlive a working day.
        sas_policy=storage.SasPolicyArgs(sas_expiration_period=SAS_EXPIRATION_PERIOD, expiration_action="Block"),
        public_network_access=public_network_access,
        network_rule_set=storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.DENY, bypass="AzureServices"),
        identity=storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[key_identity(keys)]),
        encryption=storage.EncryptionArgs(
            key_source="Microsoft.Keyvault",
            require_infrastructure_encryption=True,
            key_vault_properties=storage.KeyVaultPropertiesArgs(
                # No key version: the account follows the key's automatic rotation.
                key_vault_uri=keys.key_id.apply(lambda _: keys.vault_uri),
                key_name=keys.key_name,
            ),
            encryption_identity=storage.EncryptionIdentityArgs(encryption_user_assigned_identity=keys.identity_id),
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                file=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                queue=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                table=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
            ),
        ),
        tags=tags(placement, **extra_tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
