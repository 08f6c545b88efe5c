"""Audit logging: a multi-region CloudTrail with log file validation, S3 data events, access logs, flow logs.

With a copy region, the trail bucket and the access-log bucket replicate to it (inside the jurisdiction),
so the audit trail survives the loss of the primary region. VPC flow logs (every accepted and rejected
flow) go to a KMS-encrypted CloudWatch group kept as long as the trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from opcloud.components.aws.bucket import SecureBucket, SecureBucketArgs
from opcloud.components.aws.iam import service_trust_policy
from opcloud.components.aws.replication import replicate
from opcloud.components.interfaces import AuditArgs, AuditOutputs
from opcloud.components.naming import bucket_name

# S3 server access logs and ALB logs are delivered by AWS only into buckets encrypted with SSE-S3:
# that bucket is the single store not under the stack's KMS key, and it holds no procurement data.
ACCESS_LOG_ENCRYPTION_EXCEPTION = "aws-log-delivery-requires-sse-s3"


@dataclass(frozen=True)
class AwsAuditNative:
    trail: aws.cloudtrail.Trail
    trail_bucket: SecureBucket
    access_logs: SecureBucket
    log_group: aws.cloudwatch.LogGroup
    replicas: dict[str, SecureBucket] = field(default_factory=dict)
    flow_logs: dict[str, aws.ec2.FlowLog] = field(default_factory=dict)


class AwsAudit(pulumi.ComponentResource):
    outputs: AuditOutputs
    native: AwsAuditNative

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:Audit", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        placement = args.placement
        tags = {**placement.tags, "data": "audit"}
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        trail_bucket_name = bucket_name(placement.prefix, "audit-trail", placement.region)
        trail_bucket = SecureBucket(
            f"{name}-trail-bucket",
            SecureBucketArgs(
                bucket_name=trail_bucket_name,
                region=placement.region,
                tags=tags,
                kms_key_arn=args.keys.key_id,
                extra_policy_statements=account_id.apply(
                    lambda account: cloudtrail_statements(f"arn:aws:s3:::{trail_bucket_name}", account)
                ),
            ),
            opts=child,
        )
        access_logs_name = bucket_name(placement.prefix, "access-logs", placement.region)
        access_logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=access_logs_name,
                region=placement.region,
                tags={**tags, "encryption-exception": ACCESS_LOG_ENCRYPTION_EXCEPTION},
                kms_key_arn=None,
                extra_policy_statements=account_id.apply(
                    lambda account: log_delivery_statements(f"arn:aws:s3:::{access_logs_name}", account)
                ),
            ),
            opts=child,
        )
        replicas: dict[str, SecureBucket] = {}
        for part, purpose, bucket in (
            ("trail-bucket", "audit-trail", trail_bucket),
            ("access-logs", "access-logs", access_logs),
        ):
            self._retention(f"{name}-{part}", bucket, placement.region, args.retention_days)
            if placement.copy_region is not None:
                replicas[part] = self._replica(name, part, purpose, bucket, args, tags)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-trail-logs",
            retention_in_days=_cloudwatch_retention(args.retention_days),
            kms_key_id=args.keys.key_id,
            region=placement.region,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-trail-role",
            assume_role_policy=service_trust_policy("cloudtrail.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-trail-role-policy",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": f"{arn}:*",
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            s3_bucket_name=trail_bucket.bucket.bucket,
            region=placement.region,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=args.keys.key_id,
            cloud_watch_logs_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
            cloud_watch_logs_role_arn=role.arn,
            # Every read and write of a document or database snapshot is recorded.
            event_selectors=[
                {
                    "read_write_type": "All",
                    "include_management_events": True,
                    "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}],
                }
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[trail_bucket.policy]),
        )

        self._args = args
        self._name = name
        self._tags = tags
        self.native = AwsAuditNative(
            trail=trail, trail_bucket=trail_bucket, access_logs=access_logs, log_group=log_group, replicas=replicas
        )
        self.outputs = AuditOutputs(log_store_id=trail_bucket.bucket.bucket, trail_id=trail.arn)
        self.register_outputs({"trail": trail.arn})

    def _retention(self, name: str, bucket: SecureBucket, region: str, days: int) -> None:
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-retention",
            bucket=bucket.bucket.id,
            region=region,
            rules=[
                {
                    "id": "retention",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": days},
                    "noncurrent_version_expiration": {"noncurrent_days": 30},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.versioning]),
        )

    def _replica(
        self, name: str, part: str, purpose: str, source: SecureBucket, args: AuditArgs, tags: dict[str, str]
    ) -> SecureBucket:
        """The log bucket's copy in the copy region, kept as long as the source."""
        placement = args.placement
        copy_region = placement.copy_region
        if copy_region is None or args.keys.copy_key_id is None:
            raise ValueError("a copy region needs its key")
        replica = SecureBucket(
            f"{name}-{part}-replica",
            SecureBucketArgs(
                bucket_name=bucket_name(placement.prefix, purpose, copy_region),
                region=copy_region,
                tags={**tags, "replica-of": placement.region},
                kms_key_arn=args.keys.copy_key_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._retention(f"{name}-{part}-replica", replica, copy_region, args.retention_days)
        # Trail files are SSE-KMS and are re-encrypted with the copy key; access logs are SSE-S3 (AWS log
        # delivery allows nothing else) and S3 keeps their replicas under SSE-S3.
        kms = (args.keys.key_id, args.keys.copy_key_id) if part == "trail-bucket" else None
        replicate(self, f"{name}-{part}", source, replica, placement.region, tags, kms, storage_class="STANDARD")
        return replica

    def record_flow_logs(self, key: str, vpc_id: pulumi.Input[str]) -> aws.ec2.FlowLog:
        """Every accepted and rejected flow of the VPC, to a KMS-encrypted group kept `retention_days`."""
        args, name, tags = self._args, self._name, self._tags
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{name}-{key}-flow-logs",
            retention_in_days=_cloudwatch_retention(args.retention_days),
            kms_key_id=args.keys.key_id,
            region=args.placement.region,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-{key}-flow-logs-role",
            assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-{key}-flow-logs-policy",
            role=role.id,
            policy=group.arn.apply(flow_log_delivery_policy),
            opts=child,
        )
        flow_log = aws.ec2.FlowLog(
            f"{name}-{key}-flow-log",
            vpc_id=vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            region=args.placement.region,
            tags=tags,
            opts=child,
        )
        self.native.flow_logs[key] = flow_log
        return flow_log


def flow_log_delivery_policy(group_arn: str) -> str:
    """What VPC flow log delivery needs on its own log group, and nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogGroups",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [group_arn, f"{group_arn}:*"],
                }
            ],
        }
    )


def _cloudwatch_retention(days: int) -> int:
    """CloudWatch accepts only some retention values: the smallest one that keeps `days`."""
    allowed = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
    return next((value for value in allowed if value >= days), allowed[-1])


def cloudtrail_statements(bucket_arn: str, account_id: str) -> list[dict]:
    condition = {"StringEquals": {"aws:SourceAccount": account_id}}
    return [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": condition,
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
            "Condition": condition,
        },
    ]


def log_delivery_statements(bucket_arn: str, account_id: str) -> list[dict]:
    condition = {"StringEquals": {"aws:SourceAccount": account_id}}
    return [
        {
            "Sid": "S3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/s3/*",
            "Condition": condition,
        },
        {
            "Sid": "LoadBalancerLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/alb/*",
        },
    ]
