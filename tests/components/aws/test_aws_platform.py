"""The AWS platform under Pulumi's mocks: the security properties, resource by resource."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opcloud.stacks.synth import Manifest, ManifestResource, synth

DATA_KEY = "arn:aws:kms:mock:123456789012:prozorro-sale-prod-keys-data"
COPY_KEY = "arn:aws:kms:mock:123456789012:prozorro-sale-prod-keys-copy"
ALLOWED = ["198.51.100.0/24", "203.0.113.0/24"]


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return synth("prozorro-sale-prod")


def bucket_resource(manifest: Manifest, type_: str, bucket_name: str) -> ManifestResource:
    matches = [r for r in manifest.of_type(type_) if r.inputs.get("bucket") == bucket_name]
    assert len(matches) == 1, f"{type_} for {bucket_name}: {len(matches)}"
    return matches[0]


BUCKETS = {
    "prozorro-sale-prod-documents-eu-west-1": ("eu-west-1", DATA_KEY),
    "prozorro-sale-prod-documents-eu-central-1": ("eu-central-1", COPY_KEY),
    "prozorro-sale-prod-audit-trail-eu-west-1": ("eu-west-1", DATA_KEY),
    "prozorro-sale-prod-access-logs-eu-west-1": ("eu-west-1", None),
    "prozorro-sale-prod-audit-trail-eu-central-1": ("eu-central-1", COPY_KEY),
    "prozorro-sale-prod-access-logs-eu-central-1": ("eu-central-1", COPY_KEY),
}


def test_every_bucket_is_declared_in_its_region(manifest: Manifest) -> None:
    buckets = {r.inputs["bucket"]: r.inputs["region"] for r in manifest.of_type("aws:s3/bucket:Bucket")}
    assert buckets == {name: region for name, (region, _key) in BUCKETS.items()}


@pytest.mark.parametrize("name", sorted(BUCKETS))
def test_bucket_is_private_versioned_encrypted_and_tls_only(manifest: Manifest, name: str) -> None:
    # Inputs reference the bucket by id, which the mocks make "<resource name>-id".
    bucket = next(r for r in manifest.of_type("aws:s3/bucket:Bucket") if r.inputs["bucket"] == name)
    bucket_id = f"{bucket.name}-id"
    block = bucket_resource(manifest, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket_id)
    assert all(
        block.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    versioning = bucket_resource(manifest, "aws:s3/bucketVersioning:BucketVersioning", bucket_id)
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    ownership = bucket_resource(manifest, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket_id)
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"

    sse = bucket_resource(
        manifest,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        bucket_id,
    )
    by_default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    expected_key = BUCKETS[name][1]
    if expected_key is None:  # AWS log delivery accepts only SSE-S3; the exception is tagged on the bucket.
        assert by_default == {"sseAlgorithm": "AES256"}
        assert bucket.inputs["tags"]["encryption-exception"] == "aws-log-delivery-requires-sse-s3"
    else:
        assert by_default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": expected_key}

    policy = json.loads(bucket_resource(manifest, "aws:s3/bucketPolicy:BucketPolicy", bucket_id).inputs["policy"])
    denials = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denials]
    assert {"NumericLessThan": {"s3:TlsVersion": "1.2"}} in [s["Condition"] for s in denials]
    assert not [s for s in policy["Statement"] if s["Effect"] == "Allow" and s["Principal"] == "*"]


def test_documents_replicate_to_the_copy_region_with_its_key(manifest: Manifest) -> None:
    replication = manifest.named("prozorro-sale-prod-documents-replication")
    rule = replication.inputs["rules"][0]
    assert rule["status"] == "Enabled"
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert rule["destination"]["bucket"] == "arn:aws:s3:mock:123456789012:prozorro-sale-prod-documents-replica"
    assert rule["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": COPY_KEY}
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}


def test_documents_move_down_storage_tiers(manifest: Manifest) -> None:
    lifecycle = manifest.named("prozorro-sale-prod-documents-lifecycle")
    rule = lifecycle.inputs["rules"][0]
    assert [t["storageClass"] for t in rule["transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 365}


def test_keys_rotate_in_both_regions(manifest: Manifest) -> None:
    keys = manifest.of_type("aws:kms/key:Key")
    assert sorted(k.inputs["region"] for k in keys) == ["eu-central-1", "eu-west-1"]
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["rotationPeriodInDays"] == 365
        assert key.inputs["deletionWindowInDays"] == 30
        statements = json.loads(key.inputs["policy"])["Statement"]
        service = next(s for s in statements if s["Sid"] == "ServicesOfThisAccount")
        assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_database_is_encrypted_private_multi_az_and_protected(manifest: Manifest) -> None:
    db = manifest.one("aws:rds/instance:Instance").inputs
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == DATA_KEY
    assert db["publiclyAccessible"] is False
    assert db["multiAz"] is True
    assert db["backupRetentionPeriod"] == 35
    assert db["deletionProtection"] is True and db["skipFinalSnapshot"] is False
    assert db["manageMasterUserPassword"] is True and "password" not in db
    assert db["vpcSecurityGroupIds"] == ["prozorro-sale-prod-network-data-sg-id"]
    params = {p["name"]: p["value"] for p in manifest.one("aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]}
    assert params["rds.force_ssl"] == "1" and params["ssl_min_protocol_version"] == "TLSv1.2"


def test_database_backups_and_logs_are_replicated_for_point_in_time_restore_abroad_in_eu(manifest: Manifest) -> None:
    replication = manifest.one("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication").inputs
    assert replication["region"] == "eu-central-1"
    assert replication["kmsKeyId"] == COPY_KEY
    assert replication["retentionPeriod"] == 35


def test_backup_plan_runs_weekly_full_daily_differential_and_continuous_logs(manifest: Manifest) -> None:
    rules = {r["ruleName"]: r for r in manifest.one("aws:backup/plan:Plan").inputs["rules"]}
    assert rules["weekly-full"]["schedule"] == "cron(0 1 ? * SUN *)"
    assert rules["daily-differential"]["schedule"] == "cron(0 1 ? * MON,TUE,WED,THU,FRI,SAT *)"
    assert rules["continuous-log"]["enableContinuousBackup"] is True
    copy_vault = "arn:aws:backup:mock:123456789012:prozorro-sale-prod-backups-copy-vault"
    for rule in rules.values():
        assert rule["copyActions"][0]["destinationVaultArn"] == copy_vault
    vaults = {v.name: v.inputs for v in manifest.of_type("aws:backup/vault:Vault")}
    assert vaults["prozorro-sale-prod-backups-vault"]["kmsKeyArn"] == DATA_KEY
    assert vaults["prozorro-sale-prod-backups-copy-vault"]["region"] == "eu-central-1"
    lock = manifest.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration").inputs
    assert lock["minRetentionDays"] == 35
    selection = manifest.one("aws:backup/selection:Selection").inputs
    assert set(selection["resources"]) == {
        "arn:aws:rds:mock:123456789012:prozorro-sale-prod-database-instance",
        "arn:aws:s3:mock:123456789012:prozorro-sale-prod-documents-bucket",
    }


def _ingress(manifest: Manifest, tier: str) -> list[dict[str, Any]]:
    return manifest.named(f"prozorro-sale-prod-network-{tier}-sg").inputs["ingress"]


def test_firewall_rules_are_limited_to_the_allow_list(manifest: Manifest) -> None:
    assert _ingress(manifest, "public") == [
        {
            "protocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
            "cidrBlocks": ALLOWED,
            "description": "HTTPS from allowed networks",
        }
    ]
    app = _ingress(manifest, "app")
    assert [rule.get("cidrBlocks") for rule in app] == [None]
    assert app[0]["securityGroups"] == ["prozorro-sale-prod-network-public-sg-id"]
    for group in manifest.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in group.inputs.get("ingress", []):
            assert "0.0.0.0/0" not in rule.get("cidrBlocks", []), group.name
    data = _ingress(manifest, "data")
    postgres_sources = [r.get("cidrBlocks") or r.get("securityGroups") for r in data if r["fromPort"] == 5432]
    assert postgres_sources == [["prozorro-sale-prod-network-app-sg-id"], ["192.0.2.0/28"]]
    default = manifest.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default["ingress"] == [] and default["egress"] == []


def test_data_subnets_have_no_route_out(manifest: Manifest) -> None:
    assert "routes" not in manifest.named("prozorro-sale-prod-network-data-rt").inputs
    for subnet in manifest.of_type("aws:ec2/subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_load_balancer_speaks_tls_only_behind_a_waf_with_rate_limit(manifest: Manifest) -> None:
    listeners = manifest.of_type("aws:lb/listener:Listener")
    assert [(listener.inputs["port"], listener.inputs["protocol"]) for listener in listeners] == [(443, "HTTPS")]
    assert listeners[0].inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert manifest.one("aws:lb/loadBalancer:LoadBalancer").inputs["dropInvalidHeaderFields"] is True
    acl = manifest.one("aws:wafv2/webAcl:WebAcl").inputs
    rules = {rule["name"]: rule for rule in acl["rules"]}
    assert rules["rate-limit"]["statement"]["rateBasedStatement"]["limit"] == 2000
    assert rules["rate-limit"]["action"] == {"block": {}}
    assert "AWSManagedRulesSQLiRuleSet" in rules
    assert manifest.one("aws:wafv2/ipSet:IpSet").inputs["addresses"] == ALLOWED
    assert manifest.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs["webAclArn"].endswith("-app-waf")


def test_hosts_require_imdsv2_and_encrypted_disks(manifest: Manifest) -> None:
    templates = manifest.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == 2
    for template in templates:
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] == "true" and ebs["kmsKeyId"] == DATA_KEY
    groups = {g.name: g.inputs for g in manifest.of_type("aws:autoscaling/group:Group")}
    assert (
        groups["prozorro-sale-prod-app-api-asg"]["minSize"],
        groups["prozorro-sale-prod-app-api-asg"]["maxSize"],
    ) == (3, 9)


def test_audit_trail_is_multi_region_validated_and_encrypted(manifest: Manifest) -> None:
    trail = manifest.one("aws:cloudtrail/trail:Trail").inputs
    assert trail["isMultiRegionTrail"] is True
    assert trail["enableLogFileValidation"] is True
    assert trail["kmsKeyId"] == DATA_KEY
    assert trail["eventSelectors"][0]["dataResources"][0]["type"] == "AWS::S3::Object"
    logging = manifest.one("aws:s3/bucketLogging:BucketLogging").inputs
    assert logging["targetBucket"] == "prozorro-sale-prod-access-logs-eu-west-1"


def test_every_resource_has_a_parent_component_and_the_stack_tags(manifest: Manifest) -> None:
    stack_urn = next(r.parent for r in manifest.resources if r.type == "opcloud:aws:Network")
    for resource in manifest.resources:
        if resource.type.startswith("opcloud:"):
            continue
        assert resource.parent and resource.parent != stack_urn, resource.name
        tags = resource.inputs.get("tags")
        if isinstance(tags, dict):
            assert tags["owner"] == "prozorro-sale-devops" and tags["jurisdiction"] == "EU", resource.name


def test_stack_outputs_are_the_same_names_on_every_cloud(manifest: Manifest) -> None:
    assert set(manifest.outputs) == {
        "cloud",
        "region",
        "jurisdiction",
        "url",
        "networkId",
        "keyId",
        "documentStore",
        "databaseEndpoint",
        "backupVault",
        "auditLog",
    }
    assert manifest.outputs["url"] == "https://api.prozorro.sale"
    assert manifest.outputs["keyId"] == DATA_KEY


def test_each_role_is_assumable_only_by_the_service_that_needs_it(manifest: Manifest) -> None:
    trusted = {}
    for role in manifest.of_type("aws:iam/role:Role"):
        statements = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert [(s["Effect"], s["Action"]) for s in statements] == [("Allow", "sts:AssumeRole")], role.name
        trusted[role.name] = statements[0]["Principal"]
    assert trusted == {
        "prozorro-sale-prod-app-api-host-role": {"Service": "ec2.amazonaws.com"},
        "prozorro-sale-prod-app-docs-host-role": {"Service": "ec2.amazonaws.com"},
        "prozorro-sale-prod-audit-trail-role": {"Service": "cloudtrail.amazonaws.com"},
        "prozorro-sale-prod-backups-role": {"Service": "backup.amazonaws.com"},
        "prozorro-sale-prod-documents-replication-role": {"Service": "s3.amazonaws.com"},
        "prozorro-sale-prod-audit-trail-bucket-replication-role": {"Service": "s3.amazonaws.com"},
        "prozorro-sale-prod-audit-access-logs-replication-role": {"Service": "s3.amazonaws.com"},
        "prozorro-sale-prod-audit-vpc-flow-logs-role": {"Service": "vpc-flow-logs.amazonaws.com"},
        "prozorro-sale-prod-database-monitoring-role": {"Service": "monitoring.rds.amazonaws.com"},
    }
