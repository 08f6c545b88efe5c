"""The stand's Key Vault: RBAC only, closed to the Internet, holding the Jenkins passwords.

Pulumi writes the secrets through Azure Resource Manager (control plane), so the vault's firewall can
deny every network but the stand's own subnets; the VMs read the values at boot with their identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pulumi
from pulumi_azure_native import keyvault

ARTIFACTS_KEY = "artifacts-cmk"
ADMIN_SECRET = "jenkins-admin-password"
AGENT_SECRET = "jenkins-agent-password"


@dataclass(frozen=True)
class StandVaultArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    vault_name: str
    tenant_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    admin_password: pulumi.Input[str]  # a Pulumi secret
    agent_password: pulumi.Input[str]
    tags: Mapping[str, str]
    expires_at: datetime  # the stand's expiry: its passwords expire with it


class StandVault(pulumi.ComponentResource):
    vault_id: pulumi.Output[str]
    vault_name: pulumi.Output[str]
    agent_secret_id: pulumi.Output[str]

    def __init__(self, name: str, args: StandVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure/testStand:Vault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=args.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                # Shortest retention; purge protection because Azure requires it for a storage CMK. Each
                # stand's vault name carries a random instance id, so a reserved deleted name never blocks.
                soft_delete_retention_in_days=7,
                enable_purge_protection=True,
                public_network_access="Enabled",  # only for the subnets below: the default action is Deny
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action="Deny",
                    bypass="AzureServices",
                    virtual_network_rules=[keyvault.VirtualNetworkRuleArgs(id=s) for s in args.subnet_ids],
                ),
            ),
            tags=dict(args.tags),
            opts=child,
        )
        secrets = {}
        for secret_name, value in ((ADMIN_SECRET, args.admin_password), (AGENT_SECRET, args.agent_password)):
            secrets[secret_name] = keyvault.Secret(
                f"{name}-{secret_name}",
                secret_name=secret_name,
                vault_name=vault.name,
                resource_group_name=args.resource_group_name,
                properties=keyvault.SecretPropertiesArgs(
                    value=pulumi.Output.secret(value),
                    content_type="text/plain",
                    attributes=keyvault.SecretAttributesArgs(enabled=True, expires=int(args.expires_at.timestamp())),
                ),
                tags=dict(args.tags),
                opts=child,
            )
        key = keyvault.Key(
            f"{name}-{ARTIFACTS_KEY}",
            key_name=ARTIFACTS_KEY,
            vault_name=vault.name,
            resource_group_name=args.resource_group_name,
            properties=keyvault.KeyPropertiesArgs(
                kty="RSA",
                key_size=3072,
                key_ops=["wrapKey", "unwrapKey"],
                attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
                rotation_policy=keyvault.RotationPolicyArgs(
                    attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time="P120D"),
                    lifetime_actions=[
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                            trigger=keyvault.TriggerArgs(time_after_create="P90D"),
                        )
                    ],
                ),
            ),
            tags=dict(args.tags),
            opts=child,
        )
        self.key_id = key.id
        self.key_name = ARTIFACTS_KEY
        self.vault_uri = f"https://{args.vault_name}.vault.azure.net/"
        self.vault_id = vault.id
        self.vault_name = vault.name
        self.agent_secret_id = secrets[AGENT_SECRET].id
        self.register_outputs({"vaultId": vault.id, "vaultName": vault.name})
