"""Whole stacks: every shipped stack passes; broken ones are caught by the expected rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pulumi
import pulumi_aws as aws
import pytest
from opcloud.policies.check import check_manifest
from opcloud.policies.rules import ALL_RULES
from opcloud.stacks.synth import Manifest, synthesize_program

from opcloud.config.environment import list_stacks
from tests.policies.conftest import EU_AWS, check

Synth = Callable[[str], Manifest]


@pytest.mark.parametrize("stack", list_stacks())
def test_every_shipped_stack_passes_every_mandatory_rule(stack: str, synthesized: Synth) -> None:
    result = check(synthesized(stack))
    assert result.mandatory_violations == [], "\n".join(
        f"{f.rule}: {f.resource}: {f.message}" for f in result.mandatory_violations
    )


def _set(manifest: Manifest, name: str, **inputs: object) -> None:
    """Change a provider resource's inputs (components share their child's name, so skip them)."""
    for i, resource in enumerate(manifest.resources):
        if resource.name == name and not resource.type.startswith("opcloud:"):
            manifest.resources[i] = replace(resource, inputs={**resource.inputs, **inputs})
            return
    raise LookupError(name)


def _violated(manifest: Manifest) -> set[str]:
    return check(manifest).violated_rules()


def test_replica_bucket_in_us_east_1_is_a_residency_violation(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-sale-prod")
    _set(manifest, "prozorro-sale-prod-documents-replica", region="us-east-1")
    assert {"data-residency", "backup-geo-copy"} <= _violated(manifest)


def test_replication_rule_to_a_foreign_bucket_is_caught(synthesized: Synth) -> None:
    manifest = synthesized("rialto-prod")
    config = manifest.named("rialto-prod-documents-replication")
    rules = [{**config.inputs["rules"][0], "destination": {"bucket": "arn:aws:s3:::replica-in-virginia"}}]
    _set(manifest, config.name, rules=rules)
    assert "data-residency" in _violated(manifest)


def test_backup_copy_vault_abroad_is_caught(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-sale-prod")
    _set(manifest, "prozorro-sale-prod-backups-copy-vault", region="us-east-1")
    assert {"data-residency", "backup-geo-copy"} <= _violated(manifest)


def test_bucket_without_its_kms_key_is_caught(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-sale-prod")
    sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    manifest.resources = [
        r
        for r in manifest.resources
        if not (r.type == sse and r.name.startswith("prozorro-sale-prod-documents-bucket"))
    ]
    assert "encryption-at-rest-cmk" in _violated(manifest)


def test_database_open_to_the_world_is_caught(synthesized: Synth) -> None:
    manifest = synthesized("prozorro-sale-prod")
    _set(manifest, "prozorro-sale-prod-database-instance", publiclyAccessible=True)
    group = next(r for r in manifest.of_type("aws:ec2/securityGroup:SecurityGroup") if "data" in r.name)
    world = {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["0.0.0.0/0"]}
    _set(manifest, group.name, ingress=[*group.inputs.get("ingress", []), world])
    assert {"database-not-public", "no-world-open-data-ports"} <= _violated(manifest)


def test_no_log_backups_is_caught(synthesized: Synth) -> None:
    manifest = synthesized("rialto-prod")
    _set(manifest, manifest.one("aws:rds/instance:Instance").name, backupRetentionPeriod=0)
    assert {"backup-log-interval", "point-in-time-restore", "backup-retention"} <= _violated(manifest)


def test_azure_documents_moved_out_of_the_primary_pin_are_caught(synthesized: Synth) -> None:
    manifest = synthesized("prokuria-eu-prod")
    account = manifest.named("prokuria-eu-prod-documents-account")
    _set(manifest, account.name, location="westeurope")  # inside the EU, outside the primary pin IE
    assert "data-residency" in _violated(manifest)


def test_azure_storage_copying_outside_the_jurisdiction_is_caught(synthesized: Synth) -> None:
    manifest = synthesized("prokuria-eu-prod")
    account = manifest.named("prokuria-eu-prod-documents-account")
    _set(manifest, account.name, location="uksouth", sku={"name": "Standard_GRS"})  # copies to ukwest
    assert "data-residency" in _violated(manifest)


def test_a_single_resource_program_under_the_mocks() -> None:
    def program() -> None:
        aws.rds.Instance(
            "db",
            engine="postgres",
            instance_class="db.t4g.micro",
            allocated_storage=20,
            publicly_accessible=True,
            storage_encrypted=False,
            backup_retention_period=0,
            tags={"owner": "o"},
        )
        pulumi.export("ok", True)

    manifest = synthesize_program(program, stack="single", config={"aws:region": "eu-west-1"})
    result = check_manifest(manifest, replace(EU_AWS, stack="single"), ALL_RULES)
    assert {
        "database-not-public",
        "encryption-at-rest-cmk",
        "point-in-time-restore",
        "deletion-protection",
        "required-tags",
        "backup-coverage",
    } <= result.violated_rules()
    assert not result.ok
