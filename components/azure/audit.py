"""Audit logging on Azure: a Log Analytics workspace, the subscription's activity log and resource logs.

The activity log (who changed what in the subscription, Azure's CloudTrail) goes to the workspace; each
audited resource adds its own diagnostic setting through `watch`, so every audit trail of the stack ends in
one workspace kept `retention_days`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from opcloud.components.azure._common import resource_group, tags
from opcloud.components.interfaces import AuditArgs, AuditOutputs
from pulumi_azure_native import monitor, operationalinsights

ACTIVITY_CATEGORIES = ("Administrative", "Security", "Policy", "Alert")
MAX_RETENTION_DAYS = 730  # Log Analytics interactive retention limit


@dataclass
class AuditNative:
    workspace: operationalinsights.Workspace
    activity_log: monitor.SubscriptionDiagnosticSetting
    diagnostics: dict[str, monitor.DiagnosticSetting] = field(default_factory=dict)


class AzureAudit(pulumi.ComponentResource):
    outputs: AuditOutputs
    native: AuditNative

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:Audit", name, None, opts)
        placement = args.placement
        self._name = name
        self._prefix = placement.prefix
        child = pulumi.ResourceOptions(parent=self)

        workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            resource_group_name=resource_group(placement),
            location=placement.region,
            workspace_name=f"{placement.prefix}-audit",
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=min(args.retention_days, MAX_RETENTION_DAYS),
            features=operationalinsights.WorkspaceFeaturesArgs(
                enable_log_access_using_only_resource_permissions=True, disable_local_auth=True
            ),
            tags=tags(placement),
            opts=child,
        )
        activity_log = monitor.SubscriptionDiagnosticSetting(
            f"{name}-activity-log",
            name=f"{placement.prefix}-activity",
            workspace_id=workspace.id,
            logs=[monitor.SubscriptionLogSettingsArgs(category=c, enabled=True) for c in ACTIVITY_CATEGORIES],
            opts=child,
        )
        self.native = AuditNative(workspace, activity_log)
        self.outputs = AuditOutputs(log_store_id=workspace.id, trail_id=activity_log.id)
        self.register_outputs({"workspaceId": workspace.id, "activityLogId": activity_log.id})

    def watch(
        self, key: str, resource_id: pulumi.Input[str], category_group: str = "audit"
    ) -> monitor.DiagnosticSetting:
        """Send the audit logs of one resource (key vault, database, ...) to this workspace."""
        setting = monitor.DiagnosticSetting(
            f"{self._name}-{key}-diagnostics",
            name=f"{self._prefix}-{key}-audit",
            resource_uri=resource_id,
            workspace_id=self.native.workspace.id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category_group=category_group, enabled=True)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.native.diagnostics[key] = setting
        return setting
