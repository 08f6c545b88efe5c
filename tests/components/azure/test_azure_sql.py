"""Prokuria on Azure SQL Database under Pulumi's mocks: the shipped prokuria-eu-prod, property by property.

Primary in North Europe (Ireland, the pin), the failover group's secondary and the geo-redundant backups in
the paired region West Europe (inside the EU).
"""

from __future__ import annotations

from typing import Any

import pytest
from opcloud.components.azure._common import ROLE_CRYPTO_SERVICE_ENCRYPTION_USER
from opcloud.components.azure.sql import ROLE_CRYPTO_USER, server_key_name, short_term_days, sku_of
from opcloud.stacks.synth import Manifest, ManifestResource, synth, synthesize_program

from opcloud.config.environment import read_config_file, stack_file

STACK = "prokuria-eu-prod"
SERVER = "azure-native:sql:Server"
ROLE = "azure-native:authorization:RoleAssignment"


@pytest.fixture(scope="module")
def prokuria() -> Manifest:
    return synth(STACK)


def _server(manifest: Manifest, role: str) -> dict[str, Any]:
    return manifest.named(f"{STACK}-database-{role}-server").inputs


def _of_server(manifest: Manifest, type_: str, role: str) -> list[ManifestResource]:
    return [r for r in manifest.of_type(type_) if r.inputs.get("serverName") == f"{STACK}-sql-{role}"]


def test_no_postgres_server_is_declared(prokuria: Manifest) -> None:
    assert prokuria.of_type("azure-native:dbforpostgresql:Server") == []
    assert {r.name for r in prokuria.of_type(SERVER)} == {
        f"{STACK}-database-primary-server",
        f"{STACK}-database-secondary-server",
    }


def test_primary_in_ireland_secondary_in_the_eu_pair(prokuria: Manifest) -> None:
    assert _server(prokuria, "primary")["location"] == "northeurope"
    assert _server(prokuria, "secondary")["location"] == "westeurope"


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_entra_only_admin_tls12_no_public_access(prokuria: Manifest, role: str) -> None:
    server = _server(prokuria, role)
    admins = server["administrators"]
    assert admins["azureADOnlyAuthentication"] is True
    assert admins["administratorType"] == "ActiveDirectory"
    assert (admins["login"], admins["sid"], admins["principalType"]) == (
        "prokuria-db-admins",
        "00000000-0000-4000-8000-0000000000a1",
        "Group",
    )
    assert "administratorLogin" not in server and "administratorLoginPassword" not in server
    assert server["minimalTlsVersion"] == "1.2"
    assert server["publicNetworkAccess"] == "Disabled"


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_private_endpoint_in_the_data_subnet_and_ip_allow_list(prokuria: Manifest, role: str) -> None:
    endpoint = prokuria.named(f"{STACK}-database-{role}-endpoint").inputs
    connection = endpoint["privateLinkServiceConnections"][0]
    assert connection["privateLinkServiceId"] == f"{STACK}-database-{role}-server-id"
    assert connection["groupIds"] == ["sqlServer"]
    assert endpoint["subnet"]["id"].startswith(f"{STACK}-network-data")
    zone = prokuria.named(f"{STACK}-database-dns").inputs
    assert zone["privateZoneName"] == "privatelink.database.windows.net"
    rules = [
        (r.inputs["startIpAddress"], r.inputs["endIpAddress"])
        for r in _of_server(prokuria, "azure-native:sql:FirewallRule", role)
    ]
    assert rules == [("192.0.2.32", "192.0.2.47")]  # adminCidrs 192.0.2.32/28, nothing else


@pytest.mark.parametrize(
    ("role", "vault"), [("primary", "prokuria-eu-prod-kv"), ("secondary", "prokuria-eu-prod-geo-kv")]
)
def test_tde_protector_is_our_key_in_the_servers_region(prokuria: Manifest, role: str, vault: str) -> None:
    server = _server(prokuria, role)
    own_key = f"https://{vault}.vault.azure.net/keys/data"
    assert server["keyId"] == own_key
    identity = server["primaryUserAssignedIdentityId"]
    assert server["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity]}
    registered = {r.inputs["uri"] for r in _of_server(prokuria, "azure-native:sql:ServerKey", role)}
    assert registered == {
        "https://prokuria-eu-prod-kv.vault.azure.net/keys/data",
        "https://prokuria-eu-prod-geo-kv.vault.azure.net/keys/data",
    }
    (protector,) = _of_server(prokuria, "azure-native:sql:EncryptionProtector", role)
    assert protector.inputs["serverKeyType"] == "AzureKeyVault"
    assert protector.inputs["serverKeyName"] == server_key_name(own_key) == f"{vault}_data"
    assert protector.inputs["autoRotationEnabled"] is True


def test_each_region_identity_may_use_both_keys(prokuria: Manifest) -> None:
    role = f"/roleDefinitions/{ROLE_CRYPTO_SERVICE_ENCRYPTION_USER}"
    grants = {
        (r.inputs["scope"], r.inputs["principalId"])
        for r in prokuria.of_type(ROLE)
        if r.inputs["roleDefinitionId"].endswith(role) and r.name.startswith(f"{STACK}-database-")
    }
    # The primary's identity on the paired-region key, the secondary's on the primary key.
    assert grants == {
        (f"{STACK}-keys-geo-key-id", f"{STACK}-keys-identity-principal"),
        (f"{STACK}-keys-key-id", f"{STACK}-keys-geo-identity-principal"),
    }


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_auditing_to_log_analytics(prokuria: Manifest, role: str) -> None:
    (auditing,) = _of_server(prokuria, "azure-native:sql:ExtendedServerBlobAuditingPolicy", role)
    assert auditing.inputs["state"] == "Enabled"
    assert auditing.inputs["isAzureMonitorTargetEnabled"] is True
    assert "FAILED_DATABASE_AUTHENTICATION_GROUP" in auditing.inputs["auditActionsAndGroups"]
    setting = prokuria.named(f"{STACK}-audit-sql-{role}-diagnostics").inputs
    assert setting["resourceUri"] == f"{STACK}-database-{role}-server-id/databases/master"
    assert setting["workspaceId"] == f"{STACK}-audit-workspace-id"
    assert setting["logs"] == [{"categoryGroup": "audit", "enabled": True}]


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_defender_for_sql_and_vulnerability_assessment(prokuria: Manifest, role: str) -> None:
    (alerts,) = _of_server(prokuria, "azure-native:sql:ServerSecurityAlertPolicy", role)
    assert alerts.inputs["state"] == "Enabled"
    (assessment,) = _of_server(prokuria, "azure-native:sql:SqlVulnerabilityAssessmentsSetting", role)
    assert assessment.inputs["state"] == "Enabled"


def test_database_zone_redundant_with_geo_backups(prokuria: Manifest) -> None:
    database = prokuria.one("azure-native:sql:Database").inputs
    assert database["zoneRedundant"] is True
    assert database["requestedBackupStorageRedundancy"] == "Geo"
    assert database["serverName"] == f"{STACK}-sql-primary"
    assert database["location"] == "northeurope"
    assert database["sku"] == {"name": "GP_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 4}
    assert database["maxSizeBytes"] == 256 * 1024**3


def test_failover_group_to_the_paired_region(prokuria: Manifest) -> None:
    group = prokuria.one("azure-native:sql:FailoverGroup").inputs
    assert group["serverName"] == f"{STACK}-sql-primary"
    assert group["partnerServers"] == [{"id": f"{STACK}-database-secondary-server-id"}]
    assert group["databases"] == [f"{STACK}-database-database-id"]
    assert group["readWriteEndpoint"]["failoverPolicy"] == "Automatic"


def test_short_term_and_weekly_long_term_retention(prokuria: Manifest) -> None:
    short = prokuria.one("azure-native:sql:BackupShortTermRetentionPolicy").inputs
    assert (short["retentionDays"], short["diffBackupIntervalInHours"]) == (35, 12)
    assert prokuria.one("azure-native:sql:LongTermRetentionPolicy").inputs["weeklyRetention"] == "P12W"
    assert [short_term_days(d) for d in (1, 7, 21, 35, 365)] == [7, 7, 21, 35, 35]


def test_always_encrypted_key_only_for_the_api_identity(prokuria: Manifest) -> None:
    key = prokuria.named(f"{STACK}-database-column-master-key").inputs
    assert key["vaultName"] == "prokuria-eu-prod-kv"
    assert key["properties"]["kty"] == "RSA-HSM"
    assert set(key["properties"]["keyOps"]) == {"wrapKey", "unwrapKey", "sign", "verify"}
    assert key["properties"]["attributes"]["exportable"] is False
    grants = [r.inputs for r in prokuria.of_type(ROLE) if r.inputs["scope"] == f"{STACK}-database-column-master-key-id"]
    assert len(grants) == 1
    assert grants[0]["principalId"] == f"{STACK}-app-api-principal"
    assert grants[0]["roleDefinitionId"].endswith(f"/roleDefinitions/{ROLE_CRYPTO_USER}")


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_deletion_lock_on_each_server(prokuria: Manifest, role: str) -> None:
    lock = prokuria.named(f"{STACK}-database-{role}-lock").inputs
    assert (lock["scope"], lock["level"]) == (f"{STACK}-database-{role}-server-id", "CanNotDelete")


def test_the_vault_protects_documents_only(prokuria: Manifest) -> None:
    instances = prokuria.of_type("azure-native:dataprotection:BackupInstance")
    kinds = {r.inputs["properties"]["dataSourceInfo"]["datasourceType"] for r in instances}
    assert kinds == {"Microsoft.Storage/storageAccounts/blobServices"}


def test_endpoint_output_is_the_failover_listener(prokuria: Manifest) -> None:
    assert prokuria.outputs["databaseEndpoint"] == f"{STACK}-sql.database.windows.net"


def test_sku_parsing() -> None:
    assert sku_of("BC_Gen5_8").tier == "BusinessCritical"


def test_classified_columns_become_sensitivity_labels() -> None:
    from opcloud.stacks.program import run

    config, _ = read_config_file(stack_file(STACK))
    config = dict(config)
    column = {
        "table": "Bidders",
        "column": "TaxNumber",
        "label": "Confidential - GDPR",
        "informationType": "National ID",
    }
    config["opcloud:database"] = {**config["opcloud:database"], "classifiedColumns": [column]}
    manifest = synthesize_program(run, stack=STACK, config=config)
    label = manifest.one("azure-native:sql:SensitivityLabel").inputs
    assert (label["schemaName"], label["tableName"], label["columnName"]) == ("dbo", "Bidders", "TaxNumber")
    assert (label["labelName"], label["informationType"]) == ("Confidential - GDPR", "National ID")
    assert label["serverName"] == f"{STACK}-sql-primary"
