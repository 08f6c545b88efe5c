"""AWS as the rules read it: the policy adapter the `aws` cloud record names (opcloud/clouds.py)."""

from __future__ import annotations

from opcloud.policies import resources as res
from opcloud.policies.adapter import CloudPolicy

POLICY = CloudPolicy(
    data_stores=(
        *res.S3_BUCKET,
        *res.RDS_INSTANCE,
        *res.RDS_CLUSTER,
        *res.EBS_VOLUME,
        *res.EFS,
        *res.BACKUP_VAULT,
        *res.LOG_GROUP,
    ),
    databases=(*res.RDS_INSTANCE, *res.RDS_CLUSTER),
    data_namespaces=frozenset(
        [
            "s3",
            "s3control",
            "rds",
            "dynamodb",
            "ebs",
            "efs",
            "backup",
            "elasticache",
            "redshift",
            "docdb",
            "opensearch",
            "kinesis",
            "sqs",
            "sns",
            "secretsmanager",
            "ssm",
            "glacier",
            "fsx",
            "neptune",
            "memorydb",
            "cloudwatch",
            "kms",
            "cloudtrail",
            "lightsail",
            "timestream",
        ]
    ),
    known_types=(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:kms/alias:Alias",
        # A secret's value: encryption is judged on its secret (encryption-at-rest-cmk).
        "aws:secretsmanager/secretVersion:SecretVersion",
        # Monitoring and notification configuration: no data of the platform in them.
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:cloudwatch/logMetricFilter:LogMetricFilter",
        "aws:backup/vaultNotifications:VaultNotifications",
        "aws:backup/vaultPolicy:VaultPolicy",
    ),
    region_inputs=("region",),
)
