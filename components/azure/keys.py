"""Keys on Azure: a Key Vault (RBAC, purge protection, no public network access) and an RSA-HSM key.

One user-assigned identity holds "Key Vault Crypto Service Encryption User" on the key: the storage
account and the PostgreSQL server wear it to wrap their data keys, so neither needs a secret. When the
database keeps geo-redundant backups (the paired region lies in the jurisdiction), a twin vault, key and
identity live in the paired region: Azure encrypts the geo copy only with a key of that region.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from opcloud.components import naming
from opcloud.components.azure._common import (
    ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
    after,
    paired_region_within,
    resource_group,
    role_definition_id,
    tags,
)
from opcloud.components.interfaces import KeysArgs, KeysOutputs
from pulumi_azure_native import authorization, keyvault, managedidentity

from opcloud import residency

KEY_NAME = "data"
KEY_SIZE = 3072
SOFT_DELETE_DAYS_MAX = 90


def key_uri(vault_name: str, key_name: str = KEY_NAME) -> str:
    """Versionless key URI: storage and PostgreSQL follow the newest version after each rotation."""
    return f"https://{vault_name}.vault.azure.net/keys/{key_name}"


def rotation_periods(rotation_days: int) -> tuple[str, str, str]:
    """(rotate after, notify before expiry, expire after) as ISO 8601 durations."""
    if rotation_days < 7:
        raise ValueError("keys rotate at most weekly")
    return f"P{rotation_days}D", "P30D", f"P{rotation_days + 30}D"


def rotation_policy(rotation_days: int) -> keyvault.RotationPolicyArgs:
    """Rotate every `rotation_days`, notify 30 days before expiry, expire 30 days after the rotation is due."""
    rotate_after, notify_before, expire_after = rotation_periods(rotation_days)
    return keyvault.RotationPolicyArgs(
        attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time=expire_after),
        lifetime_actions=[
            keyvault.LifetimeActionArgs(
                action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                trigger=keyvault.TriggerArgs(time_after_create=rotate_after),
            ),
            keyvault.LifetimeActionArgs(
                action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.NOTIFY),
                trigger=keyvault.TriggerArgs(time_before_expiry=notify_before),
            ),
        ],
    )


@dataclass(frozen=True)
class AzureKeysOutputs(KeysOutputs):
    """The neutral outputs plus what Azure consumers need to wear the key."""

    vault_id: pulumi.Output[str] | None = None
    vault_uri: str = ""
    key_name: str = KEY_NAME
    identity_id: pulumi.Output[str] | None = None  # user-assigned identity allowed to use the key
    identity_principal_id: pulumi.Output[str] | None = None
    identity_client_id: pulumi.Output[str] | None = None
    # The key that encrypts geo-redundant database backups lives in the paired region, worn by its own
    # identity there (Azure requires both in the region holding the geo copy). None without geo backups.
    geo_identity_id: pulumi.Output[str] | None = None
    # ARM ids of the keys and the paired-region identity: Azure SQL servers in a failover group must each be
    # allowed to use both regions' keys.
    key_resource_id: pulumi.Output[str] | None = None
    geo_key_resource_id: pulumi.Output[str] | None = None
    geo_identity_principal_id: pulumi.Output[str] | None = None


def key_identity(keys: AzureKeysOutputs) -> pulumi.Output[str]:
    """The user-assigned identity that wears the key (AzureKeys always makes one)."""
    if keys.identity_id is None:
        raise ValueError("the Azure keys carry no user-assigned identity")
    return keys.identity_id


@dataclass
class VaultKeyNative:
    """A vault, its key, and the identity allowed to wrap data keys with it, all in one region."""

    vault: keyvault.Vault
    key: keyvault.Key
    identity: managedidentity.UserAssignedIdentity
    key_user: authorization.RoleAssignment


@dataclass
class KeysNative(VaultKeyNative):
    geo: VaultKeyNative | None = None


def _vault_with_key(
    parent: pulumi.ComponentResource,
    name: str,
    args: KeysArgs,
    region: str,
    vault_name: str,
    identity_name: str,
    client: pulumi.Output[authorization.GetClientConfigResult],
) -> VaultKeyNative:
    placement = args.placement
    rg = resource_group(placement)
    child = pulumi.ResourceOptions(parent=parent)
    vault = keyvault.Vault(
        f"{name}-vault",
        resource_group_name=rg,
        location=region,
        vault_name=vault_name,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=client.tenant_id,
            sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.PREMIUM),  # premium: HSM-backed keys
            enable_rbac_authorization=True,
            enable_purge_protection=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=min(args.deletion_window_days, SOFT_DELETE_DAYS_MAX),
            # No public network at all: operators and the app tier come through the private endpoint;
            # storage and PostgreSQL wrap their keys through the trusted-services bypass.
            network_acls=keyvault.NetworkRuleSetArgs(default_action="Deny", bypass="AzureServices", ip_rules=[]),
            public_network_access="Disabled",
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
        ),
        tags=tags(placement),
        opts=child,
    )

    key = keyvault.Key(
        f"{name}-key",
        resource_group_name=rg,
        vault_name=after(vault, vault_name),
        key_name=KEY_NAME,
        properties=keyvault.KeyPropertiesArgs(
            kty="RSA-HSM",
            key_size=KEY_SIZE,
            key_ops=["wrapKey", "unwrapKey"],
            attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
            rotation_policy=rotation_policy(args.rotation_days),
        ),
        tags=tags(placement),
        opts=child,
    )

    identity = managedidentity.UserAssignedIdentity(
        f"{name}-identity",
        resource_group_name=rg,
        location=region,
        resource_name_=identity_name,
        tags=tags(placement),
        opts=child,
    )
    key_user = authorization.RoleAssignment(
        f"{name}-key-user",
        scope=key.id,
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=role_definition_id(client.subscription_id, ROLE_CRYPTO_SERVICE_ENCRYPTION_USER),
        description="storage and PostgreSQL wrap their data keys with the stack key",
        opts=child,
    )
    return VaultKeyNative(vault, key, identity, key_user)


def _usable_uri(native: VaultKeyNative, vault_name: str) -> pulumi.Output[str]:
    """The key's URI, once its role assignment exists: a key consumers cannot use yet would fail them."""
    uri = key_uri(vault_name)
    return pulumi.Output.all(native.key.id, native.key_user.id).apply(lambda _: uri)


class AzureKeys(pulumi.ComponentResource):
    outputs: AzureKeysOutputs
    native: KeysNative

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:Keys", name, None, opts)
        placement = args.placement
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        vault_name = naming.key_vault_name(placement.prefix)
        main = _vault_with_key(self, name, args, placement.region, vault_name, f"{placement.prefix}-key-user", client)

        geo = geo_key_id = None
        pair = residency.azure_pair(placement.region)
        if paired_region_within(placement) and pair is not None:
            geo_vault_name = naming.key_vault_name(placement.prefix, "geo")
            geo = _vault_with_key(
                self, f"{name}-geo", args, pair, geo_vault_name, f"{placement.prefix}-geo-key-user", client
            )
            geo_key_id = _usable_uri(geo, geo_vault_name)

        self.native = KeysNative(main.vault, main.key, main.identity, main.key_user, geo)
        key_id = _usable_uri(main, vault_name)
        self.outputs = AzureKeysOutputs(
            key_id=key_id,
            # Storage GRS copies stay under the primary key; geo database backups need the paired-region key.
            copy_key_id=geo_key_id,
            vault_id=main.vault.id,
            vault_uri=f"https://{vault_name}.vault.azure.net/",
            key_name=KEY_NAME,
            identity_id=main.identity.id,
            identity_principal_id=main.identity.principal_id,
            identity_client_id=main.identity.client_id,
            geo_identity_id=geo.identity.id if geo else None,
            key_resource_id=main.key.id,
            geo_key_resource_id=geo.key.id if geo else None,
            geo_identity_principal_id=geo.identity.principal_id if geo else None,
        )
        self.register_outputs({"keyId": key_id, "vaultId": main.vault.id})


def require_azure(outputs: KeysOutputs) -> AzureKeysOutputs:
    if not isinstance(outputs, AzureKeysOutputs):
        raise TypeError("Azure components need the outputs of components.azure.AzureKeys")
    return outputs
