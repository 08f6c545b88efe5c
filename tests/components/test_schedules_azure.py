"""Azure-specific pure functions appended to schedules.py and naming.py, and the Azure residency rule."""

from __future__ import annotations

from datetime import date, time
from ipaddress import IPv4Network

import pytest
from opcloud.components import naming
from opcloud.components.azure import _common
from opcloud.components.azure._common import paired_region_within
from opcloud.components.azure.network import delegated_subnet_cidr, tier_rules
from opcloud.components.interfaces import NetworkArgs, Placement
from opcloud.components.layout import subnet_layout

from opcloud.schedules import (
    WEEKDAYS,
    BackupSchedule,
    azure_anchor_date,
    azure_full_repeating_interval,
    azure_retention_duration,
)


@pytest.mark.parametrize("weekday", WEEKDAYS)
def test_anchor_date_falls_on_the_weekday(weekday: str) -> None:
    assert WEEKDAYS[date.fromisoformat(azure_anchor_date(weekday)).weekday()] == weekday


def test_full_interval_on_a_wednesday() -> None:
    schedule = BackupSchedule("wednesday", time(2, 15), 5, 35)
    assert azure_full_repeating_interval(schedule, azure_anchor_date("wednesday")) == "R/2024-01-03T02:15:00+00:00/P1W"


def test_retention_duration() -> None:
    assert azure_retention_duration(35) == "P35D"
    with pytest.raises(ValueError):
        azure_retention_duration(0)
    with pytest.raises(ValueError):
        azure_anchor_date("someday")


def test_resource_group_and_postgres_zone_names() -> None:
    assert naming.resource_group_name("prokuria-eu-prod") == "prokuria-eu-prod-rg"
    assert naming.azure_postgres_dns_zone("Prokuria_EU-prod") == "prokuria-eu-prod.private.postgres.database.azure.com"


def placement(region: str, jurisdiction: str, copy_region: str | None) -> Placement:
    return Placement("p-prod", region, jurisdiction, {}, True, copy_region)


def test_geo_redundancy_only_when_the_pair_is_inside_the_jurisdiction() -> None:
    assert paired_region_within(placement("northeurope", "IE", None)) is False  # pair in NL
    assert paired_region_within(placement("northeurope", "IE", "westeurope")) is False
    assert paired_region_within(placement("westeurope", "EU", "northeurope")) is True
    assert paired_region_within(placement("westeurope", "EU", None)) is False  # no copy asked for
    assert paired_region_within(placement("germanywestcentral", "DE", "germanynorth")) is True
    assert paired_region_within(placement("polandcentral", "PL", "polandcentral")) is False  # no pair known


def test_delegated_subnet_is_outside_every_tier() -> None:
    cidr = IPv4Network("10.60.0.0/16")
    delegated = delegated_subnet_cidr(cidr)
    assert delegated == IPv4Network("10.60.192.0/20")
    assert not any(delegated.overlaps(s.cidr) for s in subnet_layout(cidr, 4))


def test_tier_rules_end_with_deny_and_never_allow_the_world() -> None:
    args = NetworkArgs(placement("northeurope", "IE", None), IPv4Network("10.0.0.0/16"), 3, ["198.51.100.0/24"])
    for tier in ("public", "app", "data"):
        rules = tier_rules(tier, args, "10.0.192.0/20")
        assert rules[-1].access == "Deny" and rules[-1].sources == ("*",)
        for rule in rules[:-1]:
            assert rule.access == "Allow"
            assert not {"*", "0.0.0.0/0", "Internet"} & set(rule.sources)
    app_rules = {r.name for r in tier_rules("app", args, "10.0.192.0/20")}
    assert "allow-admin-ssh" not in app_rules  # no admin networks, no admin port


def test_built_in_role_ids_are_azures() -> None:
    """Azure's fixed GUIDs: a typo is only caught at deploy time ("role definition does not exist")."""
    assert {name: value for name, value in vars(_common).items() if name.startswith("ROLE_")} == {
        "ROLE_CRYPTO_SERVICE_ENCRYPTION_USER": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "ROLE_SECRETS_USER": "4633458b-17de-408a-b874-0445c86b69e6",
        "ROLE_READER": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "ROLE_STORAGE_ACCOUNT_BACKUP_CONTRIBUTOR": "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1",
        "ROLE_POSTGRES_LTR_BACKUP": "c088a766-074b-43ba-90d4-1fb21feae531",
        "ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "ROLE_VIRTUAL_MACHINE_CONTRIBUTOR": "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
    }


def test_full_backup_repeats_on_the_configured_weekday_by_default() -> None:
    for weekday in WEEKDAYS:
        interval = azure_full_repeating_interval(BackupSchedule(weekday, time(3, 0), 5, 35))
        assert WEEKDAYS[date.fromisoformat(interval[2:12]).weekday()] == weekday
