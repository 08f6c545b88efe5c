"""AWS Backup: weekly full, daily differential, continuous logs (PITR), copies to the second region."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from opcloud.components.aws.iam import service_trust_policy
from opcloud.components.interfaces import BackupArgs, BackupOutputs

from opcloud.schedules import aws_differential_cron, aws_full_cron

_BACKUP_ROLE_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
)
WEEKLY_FULL_KEEP_DAYS = 90  # a quarter of weekly fulls, beyond the daily window


@dataclass(frozen=True)
class AwsBackupNative:
    vault: aws.backup.Vault
    copy_vault: aws.backup.Vault | None
    plan: aws.backup.Plan


class AwsBackups(pulumi.ComponentResource):
    outputs: BackupOutputs
    native: AwsBackupNative

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:Backups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        placement = args.placement
        schedule = args.schedule
        tags = dict(placement.tags)

        vault = aws.backup.Vault(
            f"{name}-vault", kms_key_arn=args.keys.key_id, region=placement.region, tags=tags, opts=child
        )
        if placement.production:
            # Recovery points cannot be deleted early, not even by an administrator.
            aws.backup.VaultLockConfiguration(
                f"{name}-vault-lock",
                backup_vault_name=vault.name,
                min_retention_days=schedule.retention_days,
                region=placement.region,
                opts=child,
            )
        copy_vault = None
        copy_actions: list[aws.backup.PlanRuleCopyActionArgsDict] = []
        if placement.copy_region is not None and args.keys.copy_key_id is not None:
            copy_vault = aws.backup.Vault(
                f"{name}-copy-vault",
                kms_key_arn=args.keys.copy_key_id,
                region=placement.copy_region,
                tags={**tags, "copy-of": placement.region},
                opts=child,
            )
            copy_actions = [
                {"destination_vault_arn": copy_vault.arn, "lifecycle": {"delete_after": schedule.retention_days}}
            ]

        def rule(
            rule_name: str, cron: str, keep_days: int, continuous: bool = False
        ) -> aws.backup.PlanRuleArgsDict:
            return {
                "rule_name": rule_name,
                "target_vault_name": vault.name,
                "schedule": cron,
                "schedule_expression_timezone": "Etc/UTC",
                "start_window": 60,
                "completion_window": 360,
                "enable_continuous_backup": continuous,
                "lifecycle": {"delete_after": keep_days},
                "copy_actions": copy_actions,
                "recovery_point_tags": {**tags, "rule": rule_name},
            }

        plan = aws.backup.Plan(
            f"{name}-plan",
            region=placement.region,
            rules=[
                rule("weekly-full", aws_full_cron(schedule), max(schedule.retention_days, WEEKLY_FULL_KEEP_DAYS)),
                # Snapshots after the first are incremental: the daily differential.
                rule("daily-differential", aws_differential_cron(schedule), schedule.retention_days),
                # Continuous backup ships transaction logs every 5 minutes: point-in-time restore.
                rule("continuous-log", aws_differential_cron(schedule), min(schedule.retention_days, 35), True),
            ],
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=service_trust_policy("backup.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        for index, policy_arn in enumerate(_BACKUP_ROLE_POLICIES):
            aws.iam.RolePolicyAttachment(
                f"{name}-role-policy-{index}", role=role.name, policy_arn=policy_arn, opts=child
            )
        aws.backup.Selection(
            f"{name}-selection",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            resources=[i for i in args.protected_ids if i is not None],
            region=placement.region,
            opts=child,
        )

        self.native = AwsBackupNative(vault=vault, copy_vault=copy_vault, plan=plan)
        self.outputs = BackupOutputs(vault_id=vault.arn, copy_vault_id=copy_vault.arn if copy_vault else None)
        self.register_outputs({"vault": vault.arn})
