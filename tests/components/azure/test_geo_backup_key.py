"""Item 7 of issue 14: a German Azure stack (germanywestcentral, paired with germanynorth inside DE) keeps
geo-redundant database backups, which Azure encrypts with a key and an identity of the paired region.

Synthesized under Pulumi's mocks from prokuria's file moved to Germany; the policy pack then checks it.
"""

from __future__ import annotations

from typing import Any

import pytest
from opcloud.policies import context as contexts
from opcloud.policies.check import check_manifest
from opcloud.stacks.synth import Manifest, synthesize_program

from tests.components.azure.variants import ireland_only_postgres_config

STACK = "tenders-de-prod"
SERVER = "azure-native:dbforpostgresql:Server"
VAULT = "azure-native:keyvault:Vault"


def germany_config() -> dict[str, Any]:
    config = ireland_only_postgres_config()
    config.update(
        {
            "azure-native:location": "germanywestcentral",
            "opcloud:platform": "tenders-de",
            "opcloud:jurisdiction": "DE",
            "opcloud:region": "germanywestcentral",
            "opcloud:backup": {
                "fullWeekday": "sunday",
                "startTime": "01:00",
                "logIntervalMinutes": 5,
                "retentionDays": 35,
                "geoRedundancy": "region",
                "copyRegion": "germanynorth",
            },
            # prokuria's release lives in prokuria's own store, which another platform may not read.
            "opcloud:app": {k: v for k, v in config["opcloud:app"].items() if k != "release"},
        }
    )
    return config


@pytest.fixture(scope="module")
def germany() -> Manifest:
    from opcloud.stacks.program import run

    return synthesize_program(run, stack=STACK, config=germany_config())


def test_geo_backups_are_encrypted_with_the_paired_region_key(germany: Manifest) -> None:
    server = germany.one(SERVER).inputs
    assert server["backup"]["geoRedundantBackup"] == "Enabled"
    encryption = server["dataEncryption"]
    assert encryption["geoBackupKeyURI"] == "https://tenders-de-prod-geo-kv.vault.azure.net/keys/data"
    geo_identity = germany.named(f"{STACK}-keys-geo-identity")
    assert geo_identity.inputs["location"] == "germanynorth"
    assert encryption["geoBackupUserAssignedIdentityId"] == f"{geo_identity.name}-id"
    # The server wears both identities: the primary key's and the geo key's.
    assert sorted(server["identity"]["userAssignedIdentities"]) == sorted(
        [f"{STACK}-keys-identity-id", f"{geo_identity.name}-id"]
    )


def test_the_geo_vault_lives_in_the_paired_region_and_its_identity_may_use_its_key(germany: Manifest) -> None:
    vaults = {v.inputs["vaultName"]: v.inputs for v in germany.of_type(VAULT)}
    assert vaults["tenders-de-prod-geo-kv"]["location"] == "germanynorth"
    assert vaults["tenders-de-prod-geo-kv"]["properties"]["publicNetworkAccess"] == "Disabled"
    grant = germany.named(f"{STACK}-keys-geo-key-user").inputs
    assert grant["scope"] == f"{STACK}-keys-geo-key-id"
    assert grant["principalType"] == "ServicePrincipal"


def test_the_german_stack_passes_encryption_at_rest(germany: Manifest) -> None:
    context = contexts.from_config(STACK, germany_config(), "test")
    result = check_manifest(germany, context)
    rule = next(r for r in result.results if r.rule.name == "encryption-at-rest-cmk")
    assert rule.violations == [], [f.message for f in rule.violations]
    assert any(f.resource_type == SERVER for f in rule.passes)
    # The whole legitimate stack passes: the geo vault is audited and unreachable from any network.
    assert result.mandatory_violations == [], [f"{f.rule}: {f.message}" for f in result.mandatory_violations]
    assert result.verdict == "COMPLIANT", [(r.rule.name, r.reason) for r in result.mandatory_incomplete]
