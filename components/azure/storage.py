"""Object storage for documents on Azure: a locked-down StorageV2 account with a private container.

TLS 1.2+, HTTPS only, no public blobs, no shared keys, no public network (a private endpoint in the data
subnet instead), infrastructure (double) encryption and a customer-managed key from the stack's vault.
Redundancy follows residency: GRS only when the fixed paired region lies inside the jurisdiction.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from opcloud.components import naming
from opcloud.components.azure import keys as azure_keys
from opcloud.components.azure import network as azure_network
from opcloud.components.azure._common import after, resource_group
from opcloud.components.azure.account import secure_account
from opcloud.components.interfaces import DocumentStoreArgs, DocumentStoreOutputs
from pulumi_azure_native import authorization, monitor, storage

CONTAINER = "documents"
CHANGE_FEED_RETENTION_DAYS = 365


@dataclass
class DocumentStoreNative:
    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    container: storage.BlobContainer
    lifecycle: storage.ManagementPolicy
    endpoint: azure_network.AzurePrivateEndpoint
    diagnostics: monitor.DiagnosticSetting | None


class AzureDocumentStore(pulumi.ComponentResource):
    outputs: DocumentStoreOutputs
    native: DocumentStoreNative

    def __init__(self, name: str, args: DocumentStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:DocumentStore", name, None, opts)
        placement = args.placement
        keys = azure_keys.require_azure(args.keys)
        net = azure_network.require_azure(args.network)
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        account_name = naming.storage_account_name(placement.prefix, "docs")

        account = secure_account(f"{name}-account", placement, keys, account_name, self)
        known_account = after(account, account_name)

        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=rg,
            account_name=known_account,
            blob_services_name="default",
            is_versioning_enabled=True,
            change_feed=storage.ChangeFeedArgs(enabled=True, retention_in_days=CHANGE_FEED_RETENTION_DAYS),
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=args.soft_delete_days, allow_permanent_delete=False
            ),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=args.soft_delete_days
            ),
            opts=child,
        )
        container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=rg,
            account_name=known_account,
            container_name=CONTAINER,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blob_service]),
        )
        lifecycle = storage.ManagementPolicy(
            f"{name}-lifecycle",
            resource_group_name=rg,
            account_name=known_account,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name="documents-tiers",
                        type="Lifecycle",
                        enabled=True,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"]),
                            actions=storage.ManagementPolicyActionArgs(
                                base_blob=storage.ManagementPolicyBaseBlobArgs(
                                    tier_to_cool=storage.DateAfterModificationArgs(
                                        days_after_modification_greater_than=args.infrequent_after_days
                                    ),
                                    tier_to_archive=storage.DateAfterModificationArgs(
                                        days_after_modification_greater_than=args.archive_after_days
                                    ),
                                ),
                                version=storage.ManagementPolicyVersionArgs(
                                    delete=storage.DateAfterCreationArgs(
                                        days_after_creation_greater_than=args.noncurrent_retention_days
                                    ),
                                ),
                            ),
                        ),
                    )
                ]
            ),
            opts=child,
        )
        endpoint = azure_network.AzurePrivateEndpoint(
            f"{name}-blob-endpoint",
            azure_network.PrivateEndpointArgs(
                placement=placement,
                target_id=account.id,
                group="blob",
                subnet_id=azure_network.data_subnet(net),
                dns_zone_id=net.blob_dns_zone_id or "",
            ),
            opts=child,
        )
        diagnostics = None
        if args.access_log_target is not None:
            # Who read, wrote or deleted which document: blob-service logs to the audit workspace.
            diagnostics = monitor.DiagnosticSetting(
                f"{name}-blob-diagnostics",
                name=f"{placement.prefix}-blob-audit",
                resource_uri=pulumi.Output.concat(account.id, "/blobServices/default"),
                workspace_id=args.access_log_target,
                logs=[monitor.DiagnosticsLogSettingsArgs(category_group="audit", enabled=True)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[blob_service]),
            )

        if placement.production:
            # Production documents are evidence of public procurement: deleting the account takes a deliberate
            # removal of this lock first.
            authorization.ManagementLockByScope(
                f"{name}-lock",
                scope=account.id,
                lock_name=f"{account_name}-no-delete",
                level="CanNotDelete",
                notes="deletion protection: remove this lock deliberately before deleting the account",
                opts=child,
            )

        self.native = DocumentStoreNative(account, blob_service, container, lifecycle, endpoint, diagnostics)
        self.outputs = DocumentStoreOutputs(store_name=known_account, store_id=account.id, replica_name=None)
        self.register_outputs({"storeName": known_account, "storeId": account.id})
