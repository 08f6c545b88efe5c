"""The Checkov coverage table (policies/CHECKOV_COVERAGE.csv) is complete, honest and at least 80% covered.

The table lists Checkov 3.3.30's Terraform checks (`checkov --list --framework terraform`) for the resource kinds
the stacks deploy (AWS: S3, KMS, RDS, EC2/VPC, ELB, WAF, CloudTrail, CloudWatch, IAM, Backup; Azure: Storage,
PostgreSQL flexible, Key Vault, network, compute, monitoring, backup). Each check is covered by named rules of
the pack, not applicable (with the reason), or missing (with the reason).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from opcloud.policies.rules import ALL_RULES

TABLE = Path(__file__).resolve().parents[2] / "policies" / "CHECKOV_COVERAGE.csv"
STATUSES = {"covered", "not-applicable", "missing"}
MINIMUM_COVERAGE = 0.80


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with TABLE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_row_is_well_formed(rows: list[dict[str, str]]) -> None:
    assert rows, "the table is empty"
    ids = [row["check_id"] for row in rows]
    assert len(ids) == len(set(ids)), "a check is listed twice"
    for row in rows:
        assert row["check_id"].startswith(("CKV_", "CKV2_")), row
        assert row["status"] in STATUSES, row
        if row["status"] == "covered":
            assert row["rules"].strip(), f"{row['check_id']} is covered by no rule"
        else:
            assert not row["rules"].strip() and row["reason"].strip(), f"{row['check_id']} needs a reason, no rule"


def test_every_rule_named_exists_in_the_pack(rows: list[dict[str, str]]) -> None:
    pack = {rule.name for rule in ALL_RULES}
    named = {name for row in rows for name in row["rules"].split()}
    assert named - pack == set()


def test_at_least_80_percent_of_the_applicable_checks_have_a_rule(rows: list[dict[str, str]]) -> None:
    covered = sum(1 for row in rows if row["status"] == "covered")
    missing = sum(1 for row in rows if row["status"] == "missing")
    assert covered / (covered + missing) >= MINIMUM_COVERAGE, f"{covered} of {covered + missing} applicable checks"
