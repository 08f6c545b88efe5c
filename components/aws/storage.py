"""Document storage on S3: KMS-encrypted, versioned, private, TLS-only, tiered, replicated to the copy region."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.bucket import SecureBucket, SecureBucketArgs
from components.aws.iam import service_trust_policy
from components.interfaces import DocumentStoreArgs, DocumentStoreOutputs
from components.naming import bucket_name


@dataclass(frozen=True)
class AwsDocumentStoreNative:
    bucket: SecureBucket
    replica: SecureBucket | None
    replication: aws.s3.BucketReplicationConfig | None


def replication_role_policy(source_arn: str, replica_arn: str, key_arn: str, copy_key_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    "Resource": source_arn,
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObjectVersionForReplication",
                        "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging",
                    ],
                    "Resource": f"{source_arn}/*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                    "Resource": f"{replica_arn}/*",
                },
                {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key_arn},
                {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": copy_key_arn},
            ],
        }
    )


class AwsDocumentStore(pulumi.ComponentResource):
    outputs: DocumentStoreOutputs
    native: AwsDocumentStoreNative

    def __init__(
        self,
        name: str,
        args: DocumentStoreArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("opcloud:aws:DocumentStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        placement = args.placement
        tags = {**placement.tags, "data": "documents"}

        bucket = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(
                bucket_name=bucket_name(placement.prefix, "documents", placement.region),
                region=placement.region,
                tags=tags,
                kms_key_arn=args.keys.key_id,
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.bucket.id,
            region=placement.region,
            rules=[
                {
                    "id": "tiers",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "transitions": [
                        {"days": args.infrequent_after_days, "storage_class": "STANDARD_IA"},
                        {"days": args.archive_after_days, "storage_class": "GLACIER_IR"},
                    ],
                    "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.versioning]),
        )
        if args.access_log_target is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=bucket.bucket.id,
                region=placement.region,
                target_bucket=args.access_log_target,
                target_prefix="s3/documents/",
                opts=child,
            )

        replica = replication = None
        if placement.copy_region is not None:
            if args.keys.copy_key_id is None:
                raise ValueError("a copy region needs its key")
            replica, replication = self._replicate(name, args, bucket, tags)

        self.native = AwsDocumentStoreNative(bucket=bucket, replica=replica, replication=replication)
        self.outputs = DocumentStoreOutputs(
            store_name=bucket.bucket.bucket,
            store_id=bucket.bucket.arn,
            replica_name=replica.bucket.bucket if replica else None,
        )
        self.register_outputs({"bucket": bucket.bucket.bucket})

    def _replicate(
        self,
        name: str,
        args: DocumentStoreArgs,
        source: SecureBucket,
        tags: dict[str, str],
    ) -> tuple[SecureBucket, aws.s3.BucketReplicationConfig]:
        placement = args.placement
        copy_region = placement.copy_region
        assert copy_region is not None and args.keys.copy_key_id is not None
        replica = SecureBucket(
            f"{name}-replica",
            SecureBucketArgs(
                bucket_name=bucket_name(placement.prefix, "documents", copy_region),
                region=copy_region,
                tags={**tags, "replica-of": placement.region},
                kms_key_arn=args.keys.copy_key_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = aws.iam.Role(
            f"{name}-replication-role",
            assume_role_policy=service_trust_policy("s3.amazonaws.com"),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=pulumi.Output.all(
                source.bucket.arn, replica.bucket.arn, args.keys.key_id, args.keys.copy_key_id
            ).apply(lambda v: replication_role_policy(*v)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        replication = aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=source.bucket.id,
            region=placement.region,
            role=role.arn,
            rules=[
                {
                    "id": "copy-region",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "delete_marker_replication": {"status": "Enabled"},
                    "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                    "destination": {
                        "bucket": replica.bucket.arn,
                        "storage_class": "STANDARD_IA",
                        "encryption_configuration": {"replica_kms_key_id": args.keys.copy_key_id},
                    },
                }
            ],
            # Replication needs versioning on both sides first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[source.versioning, replica.versioning]),
        )
        return replica, replication
