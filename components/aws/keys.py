"""KMS keys: one customer-managed key per stack with yearly rotation, and its twin in the copy region."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from opcloud.components.interfaces import KeysArgs, KeysOutputs

# Services that write encrypted data or logs with the stack's key.
_SERVICE_PRINCIPALS = (
    "logs.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "backup.amazonaws.com",
    "delivery.logs.amazonaws.com",
)


def key_policy(account_id: str, region: str) -> str:
    """Account administrators manage the key; AWS services may use it only on behalf of this account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministration",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "ServicesOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {
                        "Service": [
                            p.replace("logs.", f"logs.{region}.", 1) if p.startswith("logs.") else p
                            for p in _SERVICE_PRINCIPALS
                        ]
                    },
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )


@dataclass(frozen=True)
class AwsKeysNative:
    key: aws.kms.Key
    copy_key: aws.kms.Key | None


class AwsKeys(pulumi.ComponentResource):
    outputs: KeysOutputs
    native: AwsKeysNative

    def __init__(
        self,
        name: str,
        args: KeysArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("opcloud:aws:Keys", name, None, opts)
        tags = dict(args.placement.tags)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        def make_key(suffix: str, region: str) -> aws.kms.Key:
            key = aws.kms.Key(
                f"{name}-{suffix}",
                region=region,
                description=f"{args.placement.prefix}: data at rest ({region})",
                enable_key_rotation=True,
                rotation_period_in_days=args.rotation_days,
                deletion_window_in_days=args.deletion_window_days,
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                policy=account_id.apply(lambda account: key_policy(account, region)),
                tags={**tags, "region": region},
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.kms.Alias(
                f"{name}-{suffix}-alias",
                name=f"alias/{args.placement.prefix}-{suffix}",
                target_key_id=key.key_id,
                region=region,
                opts=pulumi.ResourceOptions(parent=self),
            )
            return key

        key = make_key("data", args.placement.region)
        copy_key = None
        if args.placement.copy_region is not None:
            copy_key = make_key("copy", args.placement.copy_region)

        self.native = AwsKeysNative(key=key, copy_key=copy_key)
        self.outputs = KeysOutputs(key_id=key.arn, copy_key_id=copy_key.arn if copy_key else None)
        self.register_outputs({"keyArn": key.arn})
