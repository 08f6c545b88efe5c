"""Vulnerability scanning on AWS: Amazon Inspector v2 for the stack's account in its region (EC2 and ECR).

Inspector scans the instances of the app tier and the images in ECR continuously and records findings in Security
Hub / EventBridge. The copy region holds only replicas and backups (no instance, no image), so the stack's own
region is the one to scan.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
from opcloud.components.interfaces import VulnerabilityScanArgs

RESOURCE_TYPES = ("EC2", "ECR")


class AwsVulnerabilityScanning(pulumi.ComponentResource):
    inspector: aws.inspector2.Enabler

    def __init__(self, name: str, args: VulnerabilityScanArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:VulnerabilityScanning", name, None, opts)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.inspector = aws.inspector2.Enabler(
            f"{name}-inspector",
            account_ids=[account_id],
            resource_types=list(RESOURCE_TYPES),
            region=args.placement.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"inspectorId": self.inspector.id})
