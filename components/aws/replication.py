"""S3 replication of one SecureBucket into its replica in the copy region (documents and audit logs)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
from opcloud.components.aws.bucket import SecureBucket
from opcloud.components.aws.iam import service_trust_policy


def replication_role_policy(source_arn: str, replica_arn: str, key_arn: str | None, copy_key_arn: str | None) -> str:
    """Read the source's versions, write replicas; decrypt/encrypt with the two keys when objects use KMS."""
    statements: list[dict] = [
        {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"], "Resource": source_arn},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
            "Resource": f"{source_arn}/*",
        },
        {
            "Effect": "Allow",
            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
            "Resource": f"{replica_arn}/*",
        },
    ]
    if key_arn is not None and copy_key_arn is not None:
        statements.append({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key_arn})
        statements.append(
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": copy_key_arn}
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def replicate(
    parent: pulumi.ComponentResource,
    name: str,
    source: SecureBucket,
    replica: SecureBucket,
    source_region: str,
    tags: dict[str, str],
    kms: tuple[pulumi.Input[str], pulumi.Input[str]] | None,
    storage_class: str = "STANDARD_IA",
) -> aws.s3.BucketReplicationConfig:
    """Replicate every object version and delete marker of `source` into `replica`.

    `kms` is (source key, copy-region key) for SSE-KMS objects, re-encrypted with the copy key; None for a
    bucket AWS log delivery writes with SSE-S3, whose replicas S3 keeps under SSE-S3.
    """
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-replication-role", assume_role_policy=service_trust_policy("s3.amazonaws.com"), tags=tags, opts=child
    )
    keys: list[pulumi.Input[str] | None] = list(kms) if kms else [None, None]
    aws.iam.RolePolicy(
        f"{name}-replication-policy",
        role=role.id,
        policy=pulumi.Output.all(source.bucket.arn, replica.bucket.arn, *keys).apply(
            lambda v: replication_role_policy(*v)
        ),
        opts=child,
    )
    destination: aws.s3.BucketReplicationConfigRuleDestinationArgsDict = {
        "bucket": replica.bucket.arn,
        "storage_class": storage_class,
    }
    rule: aws.s3.BucketReplicationConfigRuleArgsDict = {
        "id": "copy-region",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "delete_marker_replication": {"status": "Enabled"},
        "destination": destination,
    }
    if kms is not None:
        rule["source_selection_criteria"] = {"sse_kms_encrypted_objects": {"status": "Enabled"}}
        destination["encryption_configuration"] = {"replica_kms_key_id": kms[1]}
    return aws.s3.BucketReplicationConfig(
        f"{name}-replication",
        bucket=source.bucket.id,
        region=source_region,
        role=role.arn,
        rules=[rule],
        # Replication needs versioning on both sides first.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[source.versioning, replica.versioning]),
    )
