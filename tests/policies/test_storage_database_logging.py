"""Storage, database and logging hardening rules: a compliant resource passes, each violation is caught."""

from __future__ import annotations

import json
from dataclasses import replace

from opcloud.policies.rules.database_hardening import (
    backup_copies_cmk,
    postgres_query_logging,
    rds_hardening,
    rds_performance_insights_cmk,
)
from opcloud.policies.rules.logging_hardening import flow_logs, log_retention, trail_to_cloudwatch
from opcloud.policies.rules.storage_hardening import (
    audit_logs_replicated,
    azure_storage_hardening,
    s3_acls_disabled,
    s3_lifecycle,
    s3_policy_no_lockout,
    s3_policy_no_public_allow,
    s3_versioning,
)

from tests.policies.conftest import EU_AWS, IE_AZURE, make, verdict

BUCKET = "aws:s3/bucket:Bucket"
RDS = "aws:rds/instance:Instance"
GOOD_RDS = {
    "engine": "postgres",
    "iamDatabaseAuthenticationEnabled": True,
    "autoMinorVersionUpgrade": True,
    "caCertIdentifier": "rds-ca-rsa2048-g1",
    "copyTagsToSnapshot": True,
    "multiAz": True,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": "arn:aws:kms:eu-west-1:1:key/k",
    "monitoringInterval": 60,
    "monitoringRoleArn": "arn:aws:iam::1:role/rds-monitoring",
    "engineVersion": "15",
}


def test_s3_versioning_and_acls() -> None:
    bucket = make(BUCKET, "b", bucket="docs")
    on = make(
        "aws:s3/bucketVersioning:BucketVersioning", "v", bucket="b-id", versioningConfiguration={"status": "Enabled"}
    )
    assert verdict(s3_versioning, bucket, on) is True
    assert verdict(s3_versioning, bucket) is False
    suspended = make(
        "aws:s3/bucketVersioning:BucketVersioning", "v", bucket="b-id", versioningConfiguration={"status": "Suspended"}
    )
    assert verdict(s3_versioning, bucket, suspended) is False
    enforced = make(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "o",
        bucket="b-id",
        rule={"objectOwnership": "BucketOwnerEnforced"},
    )
    assert verdict(s3_acls_disabled, bucket, enforced) is True
    assert verdict(s3_acls_disabled, bucket) is False
    public = make("aws:s3/bucketAcl:BucketAcl", "acl", bucket="b-id", acl="public-read")
    assert verdict(s3_acls_disabled, bucket, enforced, public) is False


def test_s3_lifecycle_aborts_failed_uploads() -> None:
    bucket = make(BUCKET, "b", bucket="docs")
    lifecycle = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    rule = {"id": "r", "status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}
    assert verdict(s3_lifecycle, bucket, make(lifecycle, "l", bucket="b-id", rules=[rule])) is True
    no_abort = {"id": "r", "status": "Enabled", "expiration": {"days": 365}}
    assert verdict(s3_lifecycle, bucket, make(lifecycle, "l", bucket="b-id", rules=[no_abort])) is False
    assert verdict(s3_lifecycle, bucket) is False


def test_bucket_policy_allows_no_anonymous_principal() -> None:
    policy = "aws:s3/bucketPolicy:BucketPolicy"
    deny_plain = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    service = {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject"}
    doc = json.dumps({"Statement": [deny_plain, service]})
    assert verdict(s3_policy_no_public_allow, make(policy, "p", bucket="b-id", policy=doc)) is True
    anyone = json.dumps({"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]})
    assert verdict(s3_policy_no_public_allow, make(policy, "p", bucket="b-id", policy=anyone)) is False


def test_audit_log_buckets_replicate_inside_the_jurisdiction() -> None:
    logs = make(BUCKET, "logs", bucket="logs-eu-west-1", region="eu-west-1")
    logging = make("aws:s3/bucketLogging:BucketLogging", "lg", bucket="docs-id", targetBucket="logs-eu-west-1")
    replica = make(BUCKET, "logs-replica", bucket="logs-eu-central-1", region="eu-central-1")
    config = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
    rule = {"status": "Enabled", "destination": {"bucket": "arn:aws:s3:mock:123456789012:logs-replica"}}
    replicated = make(config, "rep", bucket="logs-id", rules=[rule])
    assert verdict(audit_logs_replicated, logs, logging, replica, replicated) is True
    assert verdict(audit_logs_replicated, logs, logging) is False
    abroad = make(BUCKET, "logs-replica", bucket="logs-us-east-1", region="us-east-1")
    assert verdict(audit_logs_replicated, logs, logging, abroad, replicated) is False
    # Without a copy region (zone-redundant stacks) there is nothing to replicate to: S3 keeps the copies.
    assert verdict(audit_logs_replicated, logs, logging, context=replace(EU_AWS, copy_region=None)) is True


def test_azure_storage_hardening() -> None:
    account = "azure-native:storage:StorageAccount"
    sas = {"sasExpirationPeriod": "0.08:00:00", "expirationAction": "Block"}
    closed = {"allowSharedKeyAccess": False, "networkRuleSet": {"bypass": "AzureServices"}}
    good = make(account, "a", accountName="docs", sasPolicy=sas, **closed)
    service = make(
        "azure-native:storage:BlobServiceProperties",
        "svc",
        accountName="docs",
        deleteRetentionPolicy={"enabled": True, "days": 30},
    )
    assert verdict(azure_storage_hardening, good, service, context=IE_AZURE) is True
    assert verdict(azure_storage_hardening, good, context=IE_AZURE) is False  # no soft delete in production
    keys = make(account, "a", accountName="docs", networkRuleSet={"bypass": "AzureServices"}, sasPolicy=sas)
    assert verdict(azure_storage_hardening, keys, service, context=IE_AZURE) is False  # shared keys by default
    no_sas = make(account, "a", accountName="docs", **closed)
    assert verdict(azure_storage_hardening, no_sas, service, context=IE_AZURE) is False


def test_rds_hardening() -> None:
    assert verdict(rds_hardening, make(RDS, "db", **GOOD_RDS)) is True
    for change in (
        {"iamDatabaseAuthenticationEnabled": False},
        {"caCertIdentifier": "rds-ca-2019"},
        {"multiAz": False},
        {"monitoringInterval": 0},
        {"engineVersion": "13.2"},
        {"engineVersion": "12.6"},
    ):
        assert verdict(rds_hardening, make(RDS, "db", **{**GOOD_RDS, **change})) is False, change
    assert verdict(rds_hardening, make(RDS, "db", **{**GOOD_RDS, "engineVersion": "13.4"})) is True
    assert verdict(rds_performance_insights_cmk, make(RDS, "db", **GOOD_RDS)) is True
    no_key = {**GOOD_RDS, "performanceInsightsKmsKeyId": None}
    assert verdict(rds_performance_insights_cmk, make(RDS, "db", **no_key)) is False
    replication = "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"
    assert verdict(backup_copies_cmk, make(replication, "r", kmsKeyId="arn:aws:kms:eu-central-1:1:key/c")) is True
    assert verdict(backup_copies_cmk, make(replication, "r")) is False


def test_postgres_query_logging() -> None:
    group = "aws:rds/parameterGroup:ParameterGroup"
    params = [{"name": "log_statement", "value": "ddl"}, {"name": "log_min_duration_statement", "value": "1000"}]
    db = make(RDS, "db", parameterGroupName="pg", **GOOD_RDS)
    assert verdict(postgres_query_logging, db, make(group, "pg", parameters=params)) is True
    assert verdict(postgres_query_logging, db, make(group, "pg", parameters=params[1:])) is False
    assert verdict(postgres_query_logging, db) is False  # the default group logs neither


def test_flow_logs_on_every_platform_network() -> None:
    vpc = make("aws:ec2/vpc:Vpc", "vpc")
    flow = make("aws:ec2/flowLog:FlowLog", "fl", vpcId="vpc-id", trafficType="ALL")
    assert verdict(flow_logs, vpc, flow) is True
    assert verdict(flow_logs, vpc) is False
    rejects = make("aws:ec2/flowLog:FlowLog", "fl", vpcId="vpc-id", trafficType="REJECT")
    assert verdict(flow_logs, vpc, rejects) is False
    vnet = make("azure-native:network:VirtualNetwork", "vnet")
    az_flow = "azure-native:network:FlowLog"
    kept = make(az_flow, "fl", targetResourceId="vnet-id", enabled=True, retentionPolicy={"enabled": True, "days": 365})
    assert verdict(flow_logs, vnet, kept, context=IE_AZURE) is True
    short = make(az_flow, "fl", targetResourceId="vnet-id", enabled=True, retentionPolicy={"enabled": True, "days": 30})
    assert verdict(flow_logs, vnet, short, context=IE_AZURE) is False
    off = make(az_flow, "fl", targetResourceId="vnet-id", enabled=False)
    assert verdict(flow_logs, vnet, off, context=IE_AZURE) is False


def test_log_retention_and_trail_to_cloudwatch() -> None:
    group = "aws:cloudwatch/logGroup:LogGroup"
    assert verdict(log_retention, make(group, "g", retentionInDays=731)) is True
    assert verdict(log_retention, make(group, "g", retentionInDays=90)) is False
    assert verdict(log_retention, make(group, "g")) is False  # retention not stated
    workspace = make("azure-native:operationalinsights:Workspace", "w", retentionInDays=30)
    assert verdict(log_retention, workspace, context=IE_AZURE) is False
    assert verdict(log_retention, workspace, context=replace(IE_AZURE, environment="qa")) is None
    trail = "aws:cloudtrail/trail:Trail"
    live = make(trail, "t", cloudWatchLogsGroupArn="arn:aws:logs:eu-west-1:1:log-group:t:*", cloudWatchLogsRoleArn="r")
    assert verdict(trail_to_cloudwatch, live) is True
    assert verdict(trail_to_cloudwatch, make(trail, "t")) is False


def test_bucket_policy_cannot_lock_everyone_out() -> None:
    policy = "aws:s3/bucketPolicy:BucketPolicy"
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert verdict(s3_policy_no_lockout, make(policy, "p", policy=json.dumps({"Statement": [tls_only]}))) is True
    lockout = {"Sid": "Freeze", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:PutBucketPolicy"]}
    assert verdict(s3_policy_no_lockout, make(policy, "p", policy=json.dumps({"Statement": [lockout]}))) is False


def test_storage_account_names_follow_azure_rules() -> None:
    account = "azure-native:storage:StorageAccount"
    closed = {
        "allowSharedKeyAccess": False,
        "networkRuleSet": {"bypass": "AzureServices"},
        "sasPolicy": {"sasExpirationPeriod": "0.08:00:00"},
    }
    qa = replace(IE_AZURE, environment="qa")
    assert verdict(azure_storage_hardening, make(account, "a", accountName="docs01", **closed), context=qa) is True
    assert verdict(azure_storage_hardening, make(account, "a", accountName="Docs-01", **closed), context=qa) is False
