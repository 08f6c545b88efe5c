"""The platform on AWS: environment -> neutral Args -> the AWS components."""

from __future__ import annotations

import pulumi
from opcloud.components.aws import AwsAppTier, AwsAudit, AwsBackups, AwsDatabase, AwsDocumentStore, AwsKeys, AwsNetwork
from opcloud.components.aws.scanning import AwsVulnerabilityScanning
from opcloud.components.interfaces import VulnerabilityScanArgs
from opcloud.stacks.platform import (
    PlatformOutputs,
    app_args,
    audit_args,
    backup_args,
    database_args,
    document_store_args,
    keys_args,
    network_args,
    placement_of,
)

from opcloud.config.environment import Environment


def compose(environment: Environment) -> PlatformOutputs:
    prefix = environment.stack_prefix
    network = AwsNetwork(f"{prefix}-network", network_args(environment))
    keys = AwsKeys(f"{prefix}-keys", keys_args(environment))
    audit = AwsAudit(f"{prefix}-audit", audit_args(environment, keys.outputs))
    # NetworkArgs carries no log target: the VPC's flow logs are wired here, where both are known.
    audit.record_flow_logs("vpc", network.outputs.network_id)
    AwsVulnerabilityScanning(
        f"{prefix}-audit-scanning",
        VulnerabilityScanArgs(placement_of(environment)),
        opts=pulumi.ResourceOptions(parent=audit),
    )
    # S3 and ALB access logs go to the audit component's log-delivery bucket.
    access_logs = audit.native.access_logs.bucket.bucket
    documents = AwsDocumentStore(
        f"{prefix}-documents", document_store_args(environment, keys.outputs, network.outputs, access_logs)
    )
    database = AwsDatabase(f"{prefix}-database", database_args(environment, keys.outputs, network.outputs))
    backups = AwsBackups(
        f"{prefix}-backups",
        backup_args(environment, keys.outputs, [database.outputs.server_id, documents.outputs.store_id]),
    )
    app = AwsAppTier(
        f"{prefix}-app",
        app_args(environment, keys.outputs, network.outputs, access_logs),
        opts=pulumi.ResourceOptions(depends_on=[audit]),
    )
    return PlatformOutputs(
        network=network.outputs,
        keys=keys.outputs,
        documents=documents.outputs,
        database=database.outputs,
        backups=backups.outputs,
        app=app.outputs,
        audit=audit.outputs,
    )
