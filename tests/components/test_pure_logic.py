"""CIDR layout, naming and backup schedules: plain functions, no Pulumi."""

from __future__ import annotations

from datetime import time
from ipaddress import IPv4Network

import pytest
from opcloud.components.layout import subnet_layout, tier_cidrs
from opcloud.components.naming import bucket_name, database_server_name, key_vault_name, storage_account_name

from opcloud.schedules import (
    BackupSchedule,
    archive_timeout_seconds,
    aws_differential_cron,
    aws_full_cron,
    cron_full,
    systemd_differential_calendar,
    systemd_full_calendar,
)


def test_layout_gives_each_tier_one_subnet_per_zone_without_overlap() -> None:
    layout = subnet_layout(IPv4Network("10.40.0.0/16"), zones=3)
    assert [(s.tier, s.zone_letter, str(s.cidr)) for s in layout] == [
        ("public", "a", "10.40.0.0/20"),
        ("public", "b", "10.40.16.0/20"),
        ("public", "c", "10.40.32.0/20"),
        ("app", "a", "10.40.64.0/20"),
        ("app", "b", "10.40.80.0/20"),
        ("app", "c", "10.40.96.0/20"),
        ("data", "a", "10.40.128.0/20"),
        ("data", "b", "10.40.144.0/20"),
        ("data", "c", "10.40.160.0/20"),
    ]
    cidrs = [s.cidr for s in layout]
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])


def test_adding_a_zone_never_renumbers_existing_subnets() -> None:
    two = tier_cidrs(IPv4Network("10.0.0.0/20"), 2, "data")
    three = tier_cidrs(IPv4Network("10.0.0.0/20"), 3, "data")
    assert three[:2] == two
    assert three == ["10.0.8.0/24", "10.0.9.0/24", "10.0.10.0/24"]


def test_layout_refuses_impossible_zone_counts() -> None:
    with pytest.raises(ValueError, match="zones"):
        subnet_layout(IPv4Network("10.0.0.0/16"), zones=5)


def test_bucket_names_follow_s3_rules_and_stay_unique_when_shortened() -> None:
    assert bucket_name("prozorro-sale-prod", "documents", "eu-west-1") == "prozorro-sale-prod-documents-eu-west-1"
    long_a = bucket_name("a-very-long-platform-name-for-testing-prod", "documents-archive", "eu-central-1")
    long_b = bucket_name("a-very-long-platform-name-for-testing-prod", "documents-archive", "eu-central-2")
    assert len(long_a) <= 63 and len(long_b) <= 63
    assert long_a != long_b
    assert all(c.islower() or c.isdigit() or c == "-" for c in long_a)


def test_azure_names_fit_their_limits() -> None:
    account = storage_account_name("prokuria-eu-prod", "documents")
    assert account.isalnum() and account.islower() and 3 <= len(account) <= 24
    assert storage_account_name("prokuria-eu-prod", "documents") != storage_account_name("prokuria-eu-prod", "docs2")
    vault = key_vault_name("prokuria-eu-prod-with-a-long-name")
    assert len(vault) <= 24 and vault[0].isalpha() and "--" not in vault
    assert key_vault_name("tenders-de-prod", "geo") == "tenders-de-prod-geo-kv"
    geo = key_vault_name("prokuria-eu-prod-with-a-long-name", "geo")
    assert len(geo) <= 24 and geo != vault
    assert database_server_name("rialto-prod") == "rialto-prod-pg"


def test_backup_schedule_becomes_the_same_week_on_every_cloud() -> None:
    schedule = BackupSchedule("sunday", time(1, 30), log_interval_minutes=5, retention_days=35)
    assert aws_full_cron(schedule) == "cron(30 1 ? * SUN *)"
    assert aws_differential_cron(schedule) == "cron(30 1 ? * MON,TUE,WED,THU,FRI,SAT *)"
    assert systemd_full_calendar(schedule) == "Sun *-*-* 01:30:00 UTC"
    assert systemd_differential_calendar(schedule) == "Mon,Tue,Wed,Thu,Fri,Sat *-*-* 01:30:00 UTC"
    assert cron_full(schedule) == "30 1 * * 0"
    assert archive_timeout_seconds(schedule) == 300
    assert "sunday" not in schedule.differential_weekdays and len(schedule.differential_weekdays) == 6


@pytest.mark.parametrize("minutes", [4, 11, 60])
def test_log_backups_outside_five_to_ten_minutes_are_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match="5 to 10 minutes"):
        BackupSchedule("sunday", time(1, 0), log_interval_minutes=minutes, retention_days=35)
