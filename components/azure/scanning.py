"""Vulnerability scanning on Azure: Microsoft Defender for Cloud plans on the stack's subscription.

Defender for Servers P2 (vulnerability assessment of the scale sets' VMs), for SQL, for Storage (malware scanning
of uploaded documents), for Key Vault and for Resource Manager. Plans are per subscription: a subscription shared
by several stacks is covered once, by whichever declares them (the same settings each time).
"""

from __future__ import annotations

import pulumi
from opcloud.components.interfaces import VulnerabilityScanArgs
from pulumi_azure_native import authorization, security

# Plan -> sub-plan (None: the plan's only one).
PLANS: dict[str, str | None] = {
    "VirtualMachines": "P2",
    "SqlServers": None,
    "OpenSourceRelationalDatabases": None,  # PostgreSQL Flexible Server
    "StorageAccounts": "DefenderForStorageV2",
    "KeyVaults": "PerKeyVault",
    "Arm": "PerSubscription",
}


class AzureVulnerabilityScanning(pulumi.ComponentResource):
    plans: dict[str, security.Pricing]

    def __init__(self, name: str, args: VulnerabilityScanArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:VulnerabilityScanning", name, None, opts)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        scope = pulumi.Output.concat("subscriptions/", client.subscription_id)
        self.plans = {
            plan: security.Pricing(
                f"{name}-{plan.lower()}",
                scope_id=scope,
                pricing_name=plan,
                pricing_tier="Standard",
                sub_plan=sub_plan,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for plan, sub_plan in PLANS.items()
        }
        self.register_outputs({plan: pricing.id for plan, pricing in self.plans.items()})
