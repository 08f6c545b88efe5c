"""The stand's audit trail: a small Log Analytics workspace receiving the vault's and blob service's logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights


@dataclass(frozen=True)
class StandMonitoringArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    tags: Mapping[str, str]
    retention_days: int = 30  # the shortest Log Analytics keeps; a stand lives hours


class StandMonitoring(pulumi.ComponentResource):
    workspace_id: pulumi.Output[str]

    def __init__(self, name: str, args: StandMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure/testStand:Monitoring", name, None, opts)
        self._name = name
        workspace = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.retention_days,
            features=operationalinsights.WorkspaceFeaturesArgs(
                enable_log_access_using_only_resource_permissions=True, disable_local_auth=True
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.workspace_id = workspace.id
        self.register_outputs({"workspaceId": workspace.id})

    def watch(self, key: str, resource_uri: pulumi.Input[str]) -> monitor.DiagnosticSetting:
        """Send one resource's audit logs (who read which secret or blob) to the workspace."""
        return monitor.DiagnosticSetting(
            f"{self._name}-{key}-diagnostics",
            name=f"{key}-audit",
            resource_uri=resource_uri,
            workspace_id=self.workspace_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category_group="audit", enabled=True)],
            opts=pulumi.ResourceOptions(parent=self),
        )
