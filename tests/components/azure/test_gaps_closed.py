"""Item 8 of issue 14 on Azure: what prokuria-eu-prod declares (Pulumi mocks, offline synth), in its variant kept
wholly in Ireland (one vault, no paired-region copies)."""

from __future__ import annotations

import pytest
from opcloud.stacks.synth import Manifest, synthesize_program

from tests.components.azure.variants import ireland_only_postgres_config

STACK = "prokuria-eu-prod"


@pytest.fixture(scope="module")
def prokuria() -> Manifest:
    from opcloud.stacks.program import run

    return synthesize_program(run, stack=STACK, config=ireland_only_postgres_config())


def test_vnet_flow_logs_go_to_a_locked_down_account_and_the_workspace(prokuria: Manifest) -> None:
    flow_log = prokuria.one("azure-native:network:FlowLog").inputs
    assert flow_log["targetResourceId"] == f"{STACK}-network-vnet-id"
    assert flow_log["enabled"] is True
    assert flow_log["networkWatcherName"] == "NetworkWatcher_northeurope"
    assert flow_log["retentionPolicy"] == {"enabled": True, "days": 365}
    assert flow_log["format"] == {"type": "JSON", "version": 2}
    analytics = flow_log["flowAnalyticsConfiguration"]["networkWatcherFlowAnalyticsConfiguration"]
    assert analytics["enabled"] is True
    assert analytics["workspaceResourceId"] == f"{STACK}-audit-workspace-id"

    account = prokuria.named(f"{STACK}-flow-logs-account")
    assert flow_log["storageId"] == f"{account.name}-id"
    inputs = account.inputs
    assert inputs["location"] == "northeurope"
    assert inputs["sku"] == {"name": "Standard_ZRS"}  # IE: the copy stays across zones
    assert inputs["allowBlobPublicAccess"] is False
    assert inputs["networkRuleSet"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    assert inputs["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert inputs["encryption"]["requireInfrastructureEncryption"] is True


def test_key_vault_only_through_its_private_endpoint(prokuria: Manifest) -> None:
    vault = prokuria.one("azure-native:keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"]["ipRules"] == []
    endpoint = next(
        e
        for e in prokuria.of_type("azure-native:network:PrivateEndpoint")
        if e.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]
    )
    assert endpoint.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == f"{vault.name}-id"


def test_gateway_speaks_tls_to_the_hosts(prokuria: Manifest) -> None:
    gateway = prokuria.one("azure-native:network:ApplicationGateway").inputs
    assert {s["protocol"] for s in gateway["backendHttpSettingsCollection"]} == {"Https"}
    assert {s["port"] for s in gateway["backendHttpSettingsCollection"]} == {443}
    assert {p["protocol"] for p in gateway["probes"]} == {"Https"}


def test_storage_accounts_bound_sas_lifetimes_and_have_no_local_users(prokuria: Manifest) -> None:
    accounts = prokuria.of_type("azure-native:storage:StorageAccount")
    assert len(accounts) == 2  # documents and flow logs
    for account in accounts:
        assert account.inputs["sasPolicy"] == {"sasExpirationPeriod": "0.08:00:00", "expirationAction": "Block"}
        assert account.inputs["isLocalUserEnabled"] is False
        assert account.inputs["allowSharedKeyAccess"] is False
