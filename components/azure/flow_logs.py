"""VNet flow logs on Azure: every flow in and out of the stack's VNet, kept in a locked-down account.

VNet flow logs replace NSG flow logs (Azure stopped creating new NSG flow logs on 30 June 2025) and cover
every subnet, NSG or not. Network Watcher writes them into a storage account of the stack's region
(its firewall admits trusted Azure services only) and feeds traffic analytics into the audit workspace.
Azure creates one Network Watcher per region and subscription itself, in NetworkWatcherRG: the flow log
is declared there rather than a second watcher that Azure would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from opcloud.components import naming
from opcloud.components.azure._common import after, resource_group
from opcloud.components.azure.account import secure_account
from opcloud.components.azure.keys import AzureKeysOutputs
from opcloud.components.interfaces import Placement
from pulumi_azure_native import authorization, monitor, network, storage

NETWORK_WATCHER_GROUP = "NetworkWatcherRG"
TRAFFIC_ANALYTICS_INTERVAL_MINUTES = 10
SOFT_DELETE_DAYS = 30


def network_watcher_name(region: str) -> str:
    return f"NetworkWatcher_{region}"


@dataclass(frozen=True)
class FlowLogsArgs:
    placement: Placement
    keys: AzureKeysOutputs
    network_id: pulumi.Input[str]  # the VNet
    workspace_id: pulumi.Input[str]  # Log Analytics workspace (resource id) for traffic analytics and audit
    workspace_guid: pulumi.Input[str]  # its customerId, which traffic analytics asks for
    retention_days: int


@dataclass
class FlowLogsNative:
    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    flow_log: network.FlowLog
    diagnostics: monitor.DiagnosticSetting


class AzureFlowLogs(pulumi.ComponentResource):
    native: FlowLogsNative

    def __init__(self, name: str, args: FlowLogsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:FlowLogs", name, None, opts)
        placement = args.placement
        account_name = naming.storage_account_name(placement.prefix, "flowlogs")
        # "Enabled" with a default-deny firewall: Network Watcher reaches it as a trusted service.
        account = secure_account(
            f"{name}-account",
            placement,
            args.keys,
            account_name,
            self,
            public_network_access="Enabled",
            data="flow-logs",
        )
        # Deleted flow-log blobs stay recoverable for the retention window (evidence cannot vanish silently).
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=resource_group(placement),
            account_name=after(account, account_name),
            blob_services_name="default",
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=SOFT_DELETE_DAYS, allow_permanent_delete=False
            ),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=SOFT_DELETE_DAYS),
            opts=pulumi.ResourceOptions(parent=self),
        )
        diagnostics = monitor.DiagnosticSetting(
            f"{name}-blob-diagnostics",
            name=f"{placement.prefix}-flowlogs-audit",
            resource_uri=pulumi.Output.concat(account.id, "/blobServices/default"),
            workspace_id=args.workspace_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category_group="audit", enabled=True)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blob_service]),
        )
        flow_log = network.FlowLog(
            f"{name}-vnet",
            resource_group_name=NETWORK_WATCHER_GROUP,
            network_watcher_name=network_watcher_name(placement.region),
            flow_log_name=f"{placement.prefix}-vnet",
            location=placement.region,
            target_resource_id=args.network_id,
            storage_id=account.id,
            enabled=True,
            format=network.FlowLogFormatParametersArgs(type="JSON", version=2),
            retention_policy=network.RetentionPolicyParametersArgs(enabled=True, days=args.retention_days),
            flow_analytics_configuration=network.TrafficAnalyticsPropertiesArgs(
                network_watcher_flow_analytics_configuration=network.TrafficAnalyticsConfigurationPropertiesArgs(
                    enabled=True,
                    workspace_id=args.workspace_guid,
                    workspace_region=placement.region,
                    workspace_resource_id=args.workspace_id,
                    traffic_analytics_interval=TRAFFIC_ANALYTICS_INTERVAL_MINUTES,
                )
            ),
            tags=dict(placement.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if placement.production:
            authorization.ManagementLockByScope(
                f"{name}-lock",
                scope=account.id,
                lock_name=f"{account_name}-no-delete",
                level="CanNotDelete",
                notes="flow logs are audit evidence: remove this lock deliberately before deleting the account",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.native = FlowLogsNative(account, blob_service, flow_log, diagnostics)
        self.register_outputs({"flowLogId": flow_log.id, "accountId": account.id})
