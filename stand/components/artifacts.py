"""Artifacts storage account: private, TLS 1.2+, HTTPS only, Entra ID only (no shared keys), no public blobs,
encrypted with a customer-managed key from the stand's vault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from opcloud.components.azure.account import SAS_EXPIRATION_PERIOD
from pulumi_azure_native import storage


@dataclass(frozen=True)
class ArtifactStoreArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: str
    subnet_ids: Sequence[pulumi.Input[str]]
    tags: Mapping[str, str]
    identity_id: pulumi.Input[str]  # reads the customer-managed key
    key_vault_uri: str
    key_name: str
    depends_on: Sequence[pulumi.Resource] = ()  # the key grant: Azure checks it when the account is created
    container: str = "artifacts"


class ArtifactStore(pulumi.ComponentResource):
    account_id: pulumi.Output[str]
    account_name: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure/testStand:Artifacts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = storage.StorageAccount(
            f"{name}-sa",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),  # test artifacts: disposable, no geo copy
            access_tier=storage.AccessTier.HOT,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_cross_tenant_replication=False,
            is_local_user_enabled=False,
            sas_policy=storage.SasPolicyArgs(sas_expiration_period=SAS_EXPIRATION_PERIOD, expiration_action="Block"),
            public_network_access="Enabled",  # reachable only from the stand's subnets: default action Deny
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY,
                bypass="AzureServices",
                virtual_network_rules=[
                    storage.VirtualNetworkRuleArgs(virtual_network_resource_id=s) for s in args.subnet_ids
                ],
            ),
            identity=storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[args.identity_id]),
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Keyvault",
                require_infrastructure_encryption=True,
                # No key version: the account follows the key's automatic rotation.
                key_vault_properties=storage.KeyVaultPropertiesArgs(
                    key_vault_uri=args.key_vault_uri, key_name=args.key_name
                ),
                encryption_identity=storage.EncryptionIdentityArgs(encryption_user_assigned_identity=args.identity_id),
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        storage.BlobContainer(
            f"{name}-{args.container}",
            container_name=args.container,
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            public_access=storage.PublicAccess.NONE,
            opts=child,
        )
        self.account_id = account.id
        self.account_name = account.name
        self.register_outputs({"accountId": account.id, "accountName": account.name})
