"""Item 8 of issue 14 on AWS: what the shipped prozorro-sale-prod now declares (Pulumi mocks, offline synth)."""

from __future__ import annotations

import json

import pytest
from opcloud.stacks.synth import Manifest, synth

STACK = "prozorro-sale-prod"
DATA_KEY = f"arn:aws:kms:mock:123456789012:{STACK}-keys-data"
BUCKET = "aws:s3/bucket:Bucket"
COPY_KEY = f"arn:aws:kms:mock:123456789012:{STACK}-keys-copy"


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return synth(STACK)


def test_vpc_flow_logs_record_every_flow_into_an_encrypted_group(manifest: Manifest) -> None:
    flow_log = manifest.one("aws:ec2/flowLog:FlowLog").inputs
    assert flow_log["vpcId"] == f"{STACK}-network-vpc-id"
    assert flow_log["trafficType"] == "ALL"
    assert flow_log["logDestinationType"] == "cloud-watch-logs"
    group = manifest.named(f"{STACK}-audit-vpc-flow-logs")
    assert flow_log["logDestination"] == f"arn:aws:cloudwatch:mock:123456789012:{group.name}"
    assert group.inputs["kmsKeyId"] == DATA_KEY
    assert group.inputs["retentionInDays"] >= 365
    role = manifest.named(f"{STACK}-audit-vpc-flow-logs-role")
    assert flow_log["iamRoleArn"] == f"arn:aws:iam:mock:123456789012:{role.name}"
    policy = json.loads(manifest.named(f"{STACK}-audit-vpc-flow-logs-policy").inputs["policy"])
    assert policy["Statement"][0]["Resource"][0] == flow_log["logDestination"]


@pytest.mark.parametrize(
    ("part", "kms"),
    [("trail-bucket", True), ("access-logs", False)],
)
def test_log_buckets_replicate_to_the_copy_region(manifest: Manifest, part: str, kms: bool) -> None:
    replica = next(b for b in manifest.of_type(BUCKET) if b.name == f"{STACK}-audit-{part}-replica")
    assert replica.inputs["region"] == "eu-central-1"  # the copy region, inside the EU
    replication = manifest.named(f"{STACK}-audit-{part}-replication").inputs
    assert replication["bucket"] == f"{STACK}-audit-{part}-id"
    assert replication["region"] == "eu-west-1"
    rule = replication["rules"][0]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": ""}
    assert rule["destination"]["bucket"] == f"arn:aws:s3:mock:123456789012:{replica.name}"
    if kms:  # trail files are SSE-KMS: re-encrypted with the copy region's key
        assert rule["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": COPY_KEY}
        assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    else:  # access logs are SSE-S3 by AWS's rule for log delivery
        assert "encryptionConfiguration" not in rule["destination"]
    retention = manifest.named(f"{STACK}-audit-{part}-replica-retention").inputs["rules"][0]
    assert retention["expiration"] == manifest.named(f"{STACK}-audit-{part}-retention").inputs["rules"][0]["expiration"]


def test_load_balancer_speaks_tls_to_the_hosts(manifest: Manifest) -> None:
    groups = manifest.of_type("aws:lb/targetGroup:TargetGroup")
    assert len(groups) == 2
    for group in groups:
        assert group.inputs["protocol"] == "HTTPS", group.name
        assert group.inputs["healthCheck"]["protocol"] == "HTTPS", group.name


def test_database_sends_enhanced_monitoring_under_its_own_role(manifest: Manifest) -> None:
    instance = manifest.one("aws:rds/instance:Instance").inputs
    role = manifest.named(f"{STACK}-database-monitoring-role")
    assert instance["monitoringInterval"] == 60
    assert instance["monitoringRoleArn"] == f"arn:aws:iam:mock:123456789012:{role.name}"
    attachment = manifest.named(f"{STACK}-database-monitoring-policy").inputs
    assert attachment["policyArn"].endswith("service-role/AmazonRDSEnhancedMonitoringRole")


def test_hosts_are_ebs_optimised(manifest: Manifest) -> None:
    for template in manifest.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert template.inputs["ebsOptimized"] == "true", template.name
