"""Document storage on S3: KMS-encrypted, versioned, private, TLS-only, tiered, replicated to the copy region."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from opcloud.components.aws.bucket import SecureBucket, SecureBucketArgs
from opcloud.components.aws.replication import replicate
from opcloud.components.interfaces import DocumentStoreArgs, DocumentStoreOutputs
from opcloud.components.naming import bucket_name


@dataclass(frozen=True)
class AwsDocumentStoreNative:
    bucket: SecureBucket
    replica: SecureBucket | None
    replication: aws.s3.BucketReplicationConfig | None


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
        # Superseded versions on the replica expire as they do on the source.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-replica-lifecycle",
            bucket=replica.bucket.id,
            region=copy_region,
            rules=[
                {
                    "id": "versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[replica.versioning]),
        )
        replication = replicate(
            self,
            name,
            source,
            replica,
            placement.region,
            tags,
            kms=(args.keys.key_id, args.keys.copy_key_id),
        )
        return replica, replication
