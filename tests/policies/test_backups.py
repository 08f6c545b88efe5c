from dataclasses import replace

from opcloud.policies.model import BackupPolicy
from opcloud.policies.rules.backups import (
    backup_coverage,
    backup_geo_copy,
    backup_log_interval,
    backup_retention,
    backup_schedule,
    cron_days,
    iso_days,
    point_in_time_restore,
)

from opcloud.schedules import WEEKDAYS
from tests.policies.conftest import EU_AWS, EU_AZURE, IE_AZURE, make, run, verdict

PLAN = "aws:backup/plan:Plan"
VAULT = "aws:backup/vault:Vault"
RDS = "aws:rds/instance:Instance"
FULL = {"ruleName": "full", "schedule": "cron(0 1 ? * SUN *)", "lifecycle": {"deleteAfter": 90.0}}
DIFF = {"ruleName": "diff", "schedule": "cron(0 1 ? * MON-SAT *)", "lifecycle": {"deleteAfter": 35.0}}


def test_cron_and_duration_parsing() -> None:
    assert cron_days("cron(0 1 ? * SUN *)") == {"sunday"}
    assert cron_days("cron(0 1 ? * MON,TUE,WED,THU,FRI,SAT *)") == cron_days("cron(0 1 ? * 2-7 *)")
    assert cron_days("cron(0 1 ? * 2-7 *)") == set(WEEKDAYS) - {"sunday"}  # the two agree on the right days
    assert cron_days("cron(0 1 * * ? *)") is not None and len(cron_days("cron(0 1 * * ? *)") or ()) == 7
    assert cron_days("rate(1 day)") is None
    assert iso_days("P35D") == 35 and iso_days("P5W") == 35 and iso_days("P1Y") == 365 and iso_days("x") is None


def test_schedule_weekly_full_and_daily_differential() -> None:
    assert all(f.ok for f in run(backup_schedule, make(PLAN, "plan", rules=[FULL, DIFF])))
    only_weekly = run(backup_schedule, make(PLAN, "plan", rules=[FULL]))
    assert not only_weekly[0].ok and "daily" in only_weekly[0].message
    wrong_day = replace(EU_AWS, backup=BackupPolicy("saturday", 5, 35))
    assert not run(backup_schedule, make(PLAN, "plan", rules=[FULL, DIFF]), context=wrong_day)[0].ok
    no_plan = run(backup_schedule, make(RDS, "db"))
    assert len(no_plan) == 1 and not no_plan[0].ok and no_plan[0].urn is None


def test_azure_weekly_vault_policy_with_the_servers_daily_snapshots() -> None:
    rule = {"trigger": {"schedule": {"repeatingTimeIntervals": ["R/2024-01-07T00:30:00+00:00/P1W"]}}}
    policy = make("azure-native:dataprotection:BackupPolicy", "pol", properties={"policyRules": [rule]})
    server = make("azure-native:dbforpostgresql:Server", "pg", backup={"backupRetentionDays": 35})
    assert all(f.ok for f in run(backup_schedule, policy, server, context=IE_AZURE))
    assert not run(backup_schedule, policy, context=IE_AZURE)[0].ok  # no daily anywhere


def test_log_interval_and_pitr_need_automated_backups() -> None:
    on = make(RDS, "db", backupRetentionPeriod=35.0)
    off = make(RDS, "db", backupRetentionPeriod=0.0)
    assert verdict(backup_log_interval, on) is True and verdict(backup_log_interval, off) is False
    assert verdict(point_in_time_restore, on) is True and verdict(point_in_time_restore, off) is False
    slow = replace(EU_AWS, backup=BackupPolicy("sunday", 15, 35))
    assert verdict(backup_log_interval, on, context=slow) is False


def test_retention_at_least_the_environments() -> None:
    assert verdict(backup_retention, make(PLAN, "plan", rules=[FULL, DIFF])) is True
    short = {**DIFF, "lifecycle": {"deleteAfter": 7.0}}
    assert verdict(backup_retention, make(PLAN, "plan", rules=[FULL, short])) is False
    copy_short = {**FULL, "copyActions": [{"destinationVaultArn": "x", "lifecycle": {"deleteAfter": 1.0}}]}
    assert verdict(backup_retention, make(PLAN, "plan", rules=[copy_short])) is False
    assert verdict(backup_retention, make(RDS, "db", backupRetentionPeriod=35.0)) is True
    assert verdict(backup_retention, make(RDS, "db", backupRetentionPeriod=7.0)) is False


def _copy_plan(arn: str) -> object:
    return make(PLAN, "plan", rules=[{**FULL, "copyActions": [{"destinationVaultArn": arn}]}])


def test_geo_copy_to_a_second_region_inside_the_jurisdiction() -> None:
    copy_vault = make(VAULT, "copy-vault", region="eu-central-1")
    plan = _copy_plan("arn:aws:backup:mock:123456789012:copy-vault")
    assert verdict(backup_geo_copy, plan, copy_vault) is True
    same_region = make(VAULT, "copy-vault", region="eu-west-1")
    assert verdict(backup_geo_copy, plan, same_region) is False
    abroad = make(VAULT, "copy-vault", region="us-east-1")
    assert verdict(backup_geo_copy, plan, abroad) is False
    assert verdict(backup_geo_copy, make(PLAN, "plan", rules=[FULL])) is False


def test_documents_must_be_replicated() -> None:
    docs = make("aws:s3/bucket:Bucket", "docs", region="eu-west-1")
    assert verdict(backup_geo_copy, docs) is False
    replica = make("aws:s3/bucket:Bucket", "replica", region="eu-central-1")
    repl = make(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "repl",
        bucket="docs-id",
        rules=[{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:mock:123456789012:replica"}}],
    )
    assert verdict(backup_geo_copy, docs, replica, repl) is True


def test_zone_redundancy_is_the_copy_only_where_the_jurisdiction_has_one_region() -> None:
    sa = "azure-native:storage:StorageAccount"
    zrs = make(sa, "sa", sku={"name": "Standard_ZRS"})
    assert verdict(backup_geo_copy, zrs, context=IE_AZURE) is True
    assert verdict(backup_geo_copy, zrs, context=EU_AZURE) is False  # the EU has other regions: copy there
    grs = make(sa, "sa", sku={"name": "Standard_GRS"})
    assert verdict(backup_geo_copy, grs, context=EU_AZURE) is True
    assert verdict(backup_geo_copy, grs, context=IE_AZURE) is False
    pg = "azure-native:dbforpostgresql:Server"
    assert verdict(backup_geo_copy, make(pg, "pg", highAvailability={"mode": "ZoneRedundant"}), context=IE_AZURE)
    assert verdict(backup_geo_copy, make(pg, "pg", highAvailability={"mode": "Disabled"}), context=IE_AZURE) is False


def test_every_database_is_in_the_backup_selection() -> None:
    db = make(RDS, "db")
    selection = make("aws:backup/selection:Selection", "sel", resources=["arn:aws:rds:mock:123456789012:db"])
    assert verdict(backup_coverage, db, selection) is True
    assert verdict(backup_coverage, db) is False
