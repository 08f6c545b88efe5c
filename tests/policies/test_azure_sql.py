"""Azure SQL Database under the policy pack, as PostgreSQL is: each rule passes a compliant server or database,
fails a bad one by name, and cannot pass what it cannot see (a value computed at preview is "will be known")."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from opcloud.policies.model import UNKNOWN, ResourceView, Rule, StackContext
from opcloud.policies.rules.audit_logging import data_access_logging
from opcloud.policies.rules.backups import (
    backup_coverage,
    backup_geo_copy,
    backup_log_interval,
    backup_retention,
    backup_schedule,
    point_in_time_restore,
)
from opcloud.policies.rules.deletion_protection import deletion_protection
from opcloud.policies.rules.encryption_at_rest import encryption_at_rest
from opcloud.policies.rules.encryption_in_transit import postgres_ssl_required, tls_minimum_version
from opcloud.policies.rules.known_types import known_resource_types
from opcloud.policies.rules.public_access import database_not_public

from tests.policies.conftest import EU_AZURE, IE_AZURE, check, make, run

SQL = "azure-native:sql:"
PINNED = replace(EU_AZURE, primary_jurisdiction="IE", copy_region="westeurope")
KEY = "https://kv.vault.azure.net/keys/data"


def server(name: str = "primary", **changes: Any) -> ResourceView:
    props = {
        "serverName": f"sql-{name}",
        "location": "northeurope" if name == "primary" else "westeurope",
        "minimalTlsVersion": "1.2",
        "publicNetworkAccess": "Disabled",
        "keyId": KEY,
        "tags": {"jurisdiction": "EU"},
    }
    return make(f"{SQL}Server", name, **{**props, **changes})


def database(**changes: Any) -> ResourceView:
    props = {
        "serverName": "sql-primary",
        "databaseName": "procurement",
        "location": "northeurope",
        "zoneRedundant": True,
        "requestedBackupStorageRedundancy": "Geo",
    }
    return make(f"{SQL}Database", "db", **{**props, **changes})


def protector(**changes: Any) -> ResourceView:
    props = {"serverName": "sql-primary", "serverKeyType": "AzureKeyVault", "serverKeyName": "kv_data"}
    return make(f"{SQL}EncryptionProtector", "tde", **{**props, **changes})


def auditing(**changes: Any) -> ResourceView:
    props = {"serverName": "sql-primary", "state": "Enabled", "isAzureMonitorTargetEnabled": True}
    return make(f"{SQL}ExtendedServerBlobAuditingPolicy", "audit", **{**props, **changes})


def master_diagnostics(**changes: Any) -> ResourceView:
    props = {
        "resourceUri": "primary-id/databases/master",
        "workspaceId": "ws-id",
        "logs": [{"categoryGroup": "audit", "enabled": True}],
    }
    return make("azure-native:monitor:DiagnosticSetting", "diag", **{**props, **changes})


def short_term(**changes: Any) -> ResourceView:
    props = {
        "serverName": "sql-primary",
        "databaseName": "procurement",
        "retentionDays": 35,
        "diffBackupIntervalInHours": 12,
    }
    return make(f"{SQL}BackupShortTermRetentionPolicy", "str", **{**props, **changes})


def long_term(**changes: Any) -> ResourceView:
    props = {"serverName": "sql-primary", "databaseName": "procurement", "weeklyRetention": "P12W"}
    return make(f"{SQL}LongTermRetentionPolicy", "ltr", **{**props, **changes})


def failover(partner: str = "secondary") -> ResourceView:
    return make(
        f"{SQL}FailoverGroup",
        "fog",
        serverName="sql-primary",
        partnerServers=[{"id": f"{partner}-id"}],
        databases=["db-id"],
    )


def outcome(rule: Rule, target: ResourceView, *others: ResourceView, context: StackContext = PINNED) -> list[Any]:
    """(ok, evaluated) of the rule's findings on `target`; [] when the rule does not judge it."""
    return [(f.ok, f.evaluated) for f in run(rule, target, *others, context=context) if f.urn == target.urn]


PASS, FAIL, UNKNOWN_YET = [(True, True)], [(False, True)], [(False, False)]


# ---------------------------------------------------------------------------------------------- encryption


def test_tde_protector_with_our_key_passes_and_the_service_key_fails() -> None:
    assert outcome(encryption_at_rest, server(), protector()) == PASS
    service_managed = protector(serverKeyType="ServiceManaged", serverKeyName="ServiceManaged")
    assert outcome(encryption_at_rest, server(), service_managed) == FAIL
    assert outcome(encryption_at_rest, server(keyId=None)) == FAIL
    assert outcome(encryption_at_rest, server(), protector(serverKeyName=UNKNOWN)) == UNKNOWN_YET


def test_tls_below_12_fails_and_unset_fails() -> None:
    assert outcome(tls_minimum_version, server()) == PASS
    assert outcome(tls_minimum_version, server(minimalTlsVersion="1.0")) == FAIL
    assert outcome(tls_minimum_version, server(minimalTlsVersion=None)) == FAIL
    assert outcome(tls_minimum_version, server(minimalTlsVersion=UNKNOWN)) == UNKNOWN_YET


def test_encrypted_connections_are_judged_for_azure_sql() -> None:
    assert outcome(postgres_ssl_required, server()) == PASS


# ------------------------------------------------------------------------------------------------- network


def test_public_access_and_world_firewall_rules_fail() -> None:
    assert outcome(database_not_public, server()) == PASS
    assert outcome(database_not_public, server(publicNetworkAccess="Enabled")) == FAIL
    assert outcome(database_not_public, server(publicNetworkAccess=None)) == FAIL
    assert outcome(database_not_public, server(publicNetworkAccess=UNKNOWN)) == UNKNOWN_YET
    azure_services = make(f"{SQL}FirewallRule", "all", startIpAddress="0.0.0.0", endIpAddress="0.0.0.0")
    assert outcome(database_not_public, azure_services) == FAIL
    admins = make(f"{SQL}FirewallRule", "ops", startIpAddress="192.0.2.32", endIpAddress="192.0.2.47")
    assert outcome(database_not_public, admins) == PASS


# ------------------------------------------------------------------------------------------------ auditing


def test_auditing_to_log_analytics() -> None:
    assert outcome(data_access_logging, server(), auditing(), master_diagnostics()) == PASS
    assert outcome(data_access_logging, server(), master_diagnostics()) == FAIL  # no auditing policy
    assert outcome(data_access_logging, server(), auditing(state="Disabled"), master_diagnostics()) == FAIL
    assert (
        outcome(data_access_logging, server(), auditing(isAzureMonitorTargetEnabled=False), master_diagnostics())
        == FAIL
    )
    assert outcome(data_access_logging, server(), auditing()) == FAIL  # nothing sends it to a workspace
    # The database is audited by its server's policy.
    assert outcome(data_access_logging, database(), server(), auditing(), master_diagnostics()) == PASS
    assert outcome(data_access_logging, database(), server()) == FAIL


def test_deletion_lock() -> None:
    lock = make("azure-native:authorization:ManagementLockByScope", "lock", scope="primary-id", level="CanNotDelete")
    assert outcome(deletion_protection, server(), lock) == PASS
    assert outcome(deletion_protection, server()) == FAIL


# ------------------------------------------------------------------------------------------------- backups


def test_point_in_time_restore_and_log_backups() -> None:
    assert outcome(point_in_time_restore, database(), server(), short_term()) == PASS
    assert outcome(point_in_time_restore, database(), server(), short_term(retentionDays=1)) == FAIL
    assert outcome(point_in_time_restore, database(), server(), short_term(retentionDays=UNKNOWN)) == UNKNOWN_YET
    assert outcome(backup_log_interval, database(), server()) == PASS
    # A database whose server is not in the stack: its policies cannot be read, so neither rule passes it.
    assert outcome(point_in_time_restore, database(), short_term()) == UNKNOWN_YET
    assert outcome(backup_retention, database(), short_term(), long_term()) == UNKNOWN_YET


def test_retention_short_term_and_weekly_long_term() -> None:
    assert outcome(backup_retention, database(), server(), short_term(), long_term()) == PASS
    assert outcome(backup_retention, database(), server(), short_term(retentionDays=14), long_term()) == FAIL
    assert outcome(backup_retention, database(), server(), short_term()) == FAIL  # no weekly long-term retention
    assert outcome(backup_retention, database(), server(), long_term()) == FAIL  # the default 7 days < 35
    longer = replace(PINNED, backup=replace(PINNED.backup, retention_days=365)) if PINNED.backup else PINNED
    assert outcome(backup_retention, database(), server(), short_term(), long_term(), context=longer) == FAIL
    assert (
        outcome(backup_retention, database(), server(), short_term(), long_term(weeklyRetention="P53W"), context=longer)
        == PASS
    )
    assert outcome(backup_retention, database(), server(), short_term(), long_term(weeklyRetention=UNKNOWN)) == (
        UNKNOWN_YET
    )


def test_backup_coverage_is_the_services_own() -> None:
    assert outcome(backup_coverage, database(), server()) == PASS


def test_schedule_counts_the_databases_differentials_as_daily() -> None:
    weekly_vault_policy = make(
        "azure-native:dataprotection:BackupPolicy",
        "blob-policy",
        properties={
            "policyRules": [{"trigger": {"schedule": {"repeatingTimeIntervals": ["R/2024-01-07T00:30:00+00:00/P1W"]}}}]
        },
    )
    with_sql = [weekly_vault_policy, database(), server(), short_term()]
    assert outcome(backup_schedule, weekly_vault_policy, *with_sql[1:]) == PASS
    # A differential only every 48 hours is not daily.
    assert outcome(
        backup_schedule, weekly_vault_policy, database(), server(), short_term(diffBackupIntervalInHours=48)
    ) == (FAIL)
    # Without a short-term policy the interval is not declared.
    assert outcome(backup_schedule, weekly_vault_policy, database(), server()) == FAIL


# ---------------------------------------------------------------------------------------------- geo copy


def test_geo_copy_needs_geo_backups_and_a_failover_partner_in_the_jurisdiction() -> None:
    secondary = server("secondary")
    assert set(outcome(backup_geo_copy, database(), server(), secondary, failover())) == {(True, True)}
    local = database(requestedBackupStorageRedundancy="Zone")
    assert (False, True) in outcome(backup_geo_copy, local, server(), secondary, failover())
    assert (False, True) in outcome(backup_geo_copy, database(), server(), secondary)  # no failover group
    abroad = server("secondary", location="uksouth")
    assert (False, True) in outcome(backup_geo_copy, database(), server(), abroad, failover())
    same_region = server("secondary", location="northeurope")
    assert (False, True) in outcome(backup_geo_copy, database(), server(), same_region, failover())


def test_in_a_single_region_jurisdiction_zones_are_the_copy() -> None:
    zoned = database(requestedBackupStorageRedundancy="Zone")
    assert outcome(backup_geo_copy, zoned, server(), context=IE_AZURE) == PASS
    assert outcome(backup_geo_copy, database(zoneRedundant=False), server(), context=IE_AZURE) == FAIL


# ----------------------------------------------------------------------------------------- known types


@pytest.mark.parametrize(
    "type_",
    [
        "ServerKey",
        "SensitivityLabel",
        "ServerSecurityAlertPolicy",
        "SqlVulnerabilityAssessmentsSetting",
        "FailoverGroup",
        "EncryptionProtector",
    ],
)
def test_the_pack_knows_the_azure_sql_types_it_declares(type_: str) -> None:
    findings = run(known_resource_types, make(f"{SQL}{type_}", "x"), context=PINNED)
    assert all(f.ok for f in findings)


def test_an_unknown_sql_type_still_fails_closed() -> None:
    findings = run(known_resource_types, make(f"{SQL}ManagedInstance", "mi"), context=PINNED)
    assert any(not f.ok for f in findings)


# ---------------------------------------------------------------------------------- the shipped stack


SQL_RULES = (
    "encryption-at-rest-cmk",
    "tls-minimum-version",
    "database-not-public",
    "data-access-logging",
    "deletion-protection",
    "point-in-time-restore",
    "backup-retention",
    "backup-geo-copy",
    "data-residency",
)


def test_prokuria_on_azure_sql_is_compliant_and_every_sql_rule_judged_its_servers(synthesized: Any) -> None:
    result = check(synthesized("prokuria-eu-prod"))
    assert result.verdict == "COMPLIANT"
    judged = {
        (r.rule.name, f.resource_type)
        for r in result.results
        for f in r.findings
        if f.resource_type and f.resource_type.startswith(SQL) and f.evaluated and f.ok
    }
    for rule in SQL_RULES:
        assert {t for name, t in judged if name == rule} & {f"{SQL}Server", f"{SQL}Database", f"{SQL}FailoverGroup"}, (
            rule
        )


def test_prokuria_with_a_public_service_keyed_sql_server_is_caught(synthesized: Any) -> None:
    manifest = synthesized("prokuria-eu-prod")
    primary = manifest.named("prokuria-eu-prod-database-primary-server")
    primary.inputs["publicNetworkAccess"] = "Enabled"
    primary.inputs["minimalTlsVersion"] = "1.0"
    manifest.named("prokuria-eu-prod-database-primary-tde-protector").inputs["serverKeyType"] = "ServiceManaged"
    manifest.one(f"{SQL}Database").inputs["requestedBackupStorageRedundancy"] = "Local"
    manifest.one(f"{SQL}BackupShortTermRetentionPolicy").inputs["retentionDays"] = 7
    violated = check(manifest).violated_rules()
    assert {
        "database-not-public",
        "tls-minimum-version",
        "encryption-at-rest-cmk",
        "backup-geo-copy",
        "backup-retention",
    } <= violated
