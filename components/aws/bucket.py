"""A private S3 bucket with every protection on; the documents, replica and log buckets are all this."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket_name: str
    region: str
    tags: Mapping[str, str]
    # KMS key ARN; None only for buckets that AWS log delivery writes to, which accepts SSE-S3 alone.
    kms_key_arn: pulumi.Input[str] | None
    force_destroy: bool = False
    # Extra statements for the bucket policy (log delivery, CloudTrail) beside the TLS-only denial.
    extra_policy_statements: pulumi.Input[list[dict]] | None = None
    object_ownership: Literal["BucketOwnerEnforced", "BucketOwnerPreferred"] = "BucketOwnerEnforced"


def tls_only_statement(bucket_arn: str) -> dict:
    """Deny every request that does not come over TLS (aws:SecureTransport) or uses TLS below 1.2."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def old_tls_statement(bucket_arn: str) -> dict:
    return {
        "Sid": "DenyTlsBelow12",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
    }


class SecureBucket(pulumi.ComponentResource):
    """Bucket owner enforced, public access blocked, versioned, encrypted, TLS-only."""

    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = args.region
        self.bucket = aws.s3.Bucket(
            name,
            bucket=args.bucket_name,
            region=region,
            force_destroy=args.force_destroy,
            tags=dict(args.tags),
            opts=child,
        )
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            region=region,
            rule={"object_ownership": args.object_ownership},
            opts=child,
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            region=region,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            region=region,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        by_default: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgsDict
        if args.kms_key_arn is not None:
            by_default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        else:
            by_default = {"sse_algorithm": "AES256"}
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            region=region,
            rules=[{"apply_server_side_encryption_by_default": by_default, "bucket_key_enabled": True}],
            opts=child,
        )
        extra = args.extra_policy_statements or []
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            region=region,
            policy=pulumi.Output.all(self.bucket.arn, extra).apply(
                lambda values: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [tls_only_statement(values[0]), old_tls_statement(values[0]), *values[1]],
                    }
                )
            ),
            # The public access block must exist first, or a policy naming a service principal is refused.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})
