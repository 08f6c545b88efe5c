from dataclasses import replace

from opcloud.policies.rules.audit_logging import audit_trail, data_access_logging
from opcloud.policies.rules.deletion_protection import deletion_protection
from opcloud.policies.rules.tags import required_tags

from tests.policies.conftest import EU_AWS, IE_AZURE, make, run, verdict

TRAIL = "aws:cloudtrail/trail:Trail"
TAGS = {"owner": "o", "platform": "p", "environment": "prod", "jurisdiction": "EU", "managed-by": "opcloud"}


def test_audit_trail() -> None:
    good = make(TRAIL, "t", isMultiRegionTrail=True, enableLogFileValidation=True)
    assert all(f.ok for f in run(audit_trail, good))
    assert not run(audit_trail, make(TRAIL, "t", isMultiRegionTrail=False, enableLogFileValidation=True))[0].ok
    missing = run(audit_trail, make("aws:s3/bucket:Bucket", "b"))
    assert len(missing) == 1 and not missing[0].ok


def test_bucket_access_logging_by_server_logs_or_trail_data_events() -> None:
    bucket = make("aws:s3/bucket:Bucket", "docs", bucket="docs-bucket")
    assert verdict(data_access_logging, bucket) is False
    logging = make("aws:s3/bucketLogging:BucketLogging", "lg", bucket="docs-id", targetBucket="logs")
    assert verdict(data_access_logging, bucket, logging) is True
    events = [{"dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]
    trail = make(TRAIL, "t", isMultiRegionTrail=True, eventSelectors=events)
    assert verdict(data_access_logging, bucket, trail) is True


def test_rds_and_azure_logging() -> None:
    rds = "aws:rds/instance:Instance"
    assert verdict(data_access_logging, make(rds, "db", enabledCloudwatchLogsExports=["postgresql"])) is True
    assert verdict(data_access_logging, make(rds, "db")) is False
    pg = make("azure-native:dbforpostgresql:Server", "pg")
    setting = make(
        "azure-native:monitor:DiagnosticSetting",
        "diag",
        resourceUri="pg-id",
        workspaceId="ws-id",
        logs=[{"enabled": True, "categoryGroup": "audit"}],
    )
    assert verdict(data_access_logging, pg, setting, context=IE_AZURE) is True
    assert verdict(data_access_logging, pg, context=IE_AZURE) is False


def test_deletion_protection_on_production_only() -> None:
    rds = "aws:rds/instance:Instance"
    assert verdict(deletion_protection, make(rds, "db", deletionProtection=True)) is True
    assert verdict(deletion_protection, make(rds, "db", deletionProtection=False)) is False
    assert verdict(deletion_protection, make(rds, "db", deletionProtection=True, skipFinalSnapshot=True)) is False
    assert verdict(deletion_protection, make("aws:s3/bucket:Bucket", "b", forceDestroy=True)) is False
    staging = replace(EU_AWS, environment="staging")
    assert verdict(deletion_protection, make(rds, "db", deletionProtection=False), context=staging) is None


def test_azure_deletion_locks() -> None:
    pg = make("azure-native:dbforpostgresql:Server", "pg")
    lock = make("azure-native:authorization:ManagementLockByScope", "lock", scope="pg-id", level="CanNotDelete")
    assert verdict(deletion_protection, pg, lock, context=IE_AZURE) is True
    assert verdict(deletion_protection, pg, context=IE_AZURE) is False
    vault = "azure-native:dataprotection:BackupVault"
    locked = {
        "securitySettings": {"softDeleteSettings": {"state": "AlwaysOn"}, "immutabilitySettings": {"state": "Locked"}}
    }
    assert verdict(deletion_protection, make(vault, "v", properties=locked), context=IE_AZURE) is True
    assert verdict(deletion_protection, make(vault, "v", properties={}), context=IE_AZURE) is False


def test_required_tags() -> None:
    assert verdict(required_tags, make("aws:ec2/vpc:Vpc", "vpc", tags=TAGS)) is True
    assert verdict(required_tags, make("aws:ec2/vpc:Vpc", "vpc", tags={"owner": "o"})) is False
    assert verdict(required_tags, make("aws:s3/bucket:Bucket", "b")) is False  # a data store must be tagged
    wrong = {**TAGS, "jurisdiction": "US"}
    assert verdict(required_tags, make("aws:ec2/vpc:Vpc", "vpc", tags=wrong)) is False
    asg = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]
    assert verdict(required_tags, make("aws:autoscaling/group:Group", "asg", tags=asg)) is True
    assert verdict(required_tags, make("aws:s3/bucketPolicy:BucketPolicy", "p")) is None
