"""Keys on Azure: a Key Vault (RBAC, purge protection, firewall deny by default) and an RSA-HSM key.

One user-assigned identity holds "Key Vault Crypto Service Encryption User" on the key: the storage
account and the PostgreSQL server wear it to wrap their data keys, so neither needs a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, keyvault, managedidentity

from components import naming
from components.azure._common import (
    ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
    after,
    resource_group,
    role_definition_id,
    tags,
)
from components.interfaces import KeysArgs, KeysOutputs

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


@dataclass(frozen=True)
class AzureKeysOutputs(KeysOutputs):
    """The neutral outputs plus what Azure consumers need to wear the key."""

    vault_id: pulumi.Output[str] | None = None
    vault_uri: str = ""
    key_name: str = KEY_NAME
    identity_id: pulumi.Output[str] | None = None  # user-assigned identity allowed to use the key
    identity_principal_id: pulumi.Output[str] | None = None
    identity_client_id: pulumi.Output[str] | None = None


@dataclass
class KeysNative:
    vault: keyvault.Vault
    key: keyvault.Key
    identity: managedidentity.UserAssignedIdentity
    key_user: authorization.RoleAssignment


class AzureKeys(pulumi.ComponentResource):
    outputs: AzureKeysOutputs
    native: KeysNative

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:Keys", name, None, opts)
        placement = args.placement
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        vault_name = naming.key_vault_name(placement.prefix)

        vault = keyvault.Vault(
            f"{name}-vault",
            resource_group_name=rg,
            location=placement.region,
            vault_name=vault_name,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=client.tenant_id,
                sku=keyvault.SkuArgs(family="A", name="premium"),  # premium: HSM-backed keys
                enable_rbac_authorization=True,
                enable_purge_protection=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=min(args.deletion_window_days, SOFT_DELETE_DAYS_MAX),
                # Reachable from the private endpoint, the admin networks and trusted Azure services
                # (storage and PostgreSQL wrap their keys through that bypass); everything else is denied.
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action="Deny",
                    bypass="AzureServices",
                    ip_rules=[keyvault.IPRuleArgs(value=str(c)) for c in args.admin_cidrs],
                ),
                public_network_access="Enabled" if args.admin_cidrs else "Disabled",
                enabled_for_deployment=False,
                enabled_for_disk_encryption=False,
                enabled_for_template_deployment=False,
            ),
            tags=tags(placement),
            opts=child,
        )

        rotate_after, notify_before, expire_after = rotation_periods(args.rotation_days)
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
                rotation_policy=keyvault.RotationPolicyArgs(
                    attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time=expire_after),
                    lifetime_actions=[
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type="rotate"),
                            trigger=keyvault.TriggerArgs(time_after_create=rotate_after),
                        ),
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type="notify"),
                            trigger=keyvault.TriggerArgs(time_before_expiry=notify_before),
                        ),
                    ],
                ),
            ),
            tags=tags(placement),
            opts=child,
        )

        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=rg,
            location=placement.region,
            resource_name_=f"{placement.prefix}-key-user",
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

        uri = key_uri(vault_name)
        self.native = KeysNative(vault, key, identity, key_user)
        # Consumers wait for the role assignment: a key they cannot use yet would fail their creation.
        key_id = pulumi.Output.all(key.id, key_user.id).apply(lambda _: uri)
        self.outputs = AzureKeysOutputs(
            key_id=key_id,
            copy_key_id=None,  # no second vault: copies stay encrypted with this key (see backup.py)
            vault_id=vault.id,
            vault_uri=f"https://{vault_name}.vault.azure.net/",
            key_name=KEY_NAME,
            identity_id=identity.id,
            identity_principal_id=identity.principal_id,
            identity_client_id=identity.client_id,
        )
        self.register_outputs({"keyId": key_id, "vaultId": vault.id})


def require_azure(outputs: KeysOutputs) -> AzureKeysOutputs:
    if not isinstance(outputs, AzureKeysOutputs):
        raise TypeError("Azure components need the outputs of components.azure.AzureKeys")
    return outputs
