"""The Azure platform under Pulumi's mocks: security and residency properties, resource by resource.

Two stacks are synthesized once per module: prokuria-eu-prod kept wholly in Ireland on PostgreSQL
(jurisdiction IE, one Azure region there, so copies stay across zones; the shipped file now runs Azure SQL
with copies in the EU pair, tested in test_azure_sql.py) and an EU stack in westeurope whose paired region (northeurope)
is inside the EU, so its copies may be geo-redundant.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from opcloud.components.azure._common import ROLE_CRYPTO_SERVICE_ENCRYPTION_USER
from opcloud.components.azure.network import delegated_subnet_cidr
from opcloud.components.layout import tier_cidrs
from opcloud.stacks.platform import schedule_of
from opcloud.stacks.synth import Manifest, synthesize_program

from opcloud.config.environment import from_config
from opcloud.schedules import azure_anchor_date, azure_full_repeating_interval
from tests.components.azure.variants import ireland_only_postgres_config

PROKURIA = "prokuria-eu-prod"
EU_STACK = "tenders-eu-prod"

ACCOUNT = "azure-native:storage:StorageAccount"
SERVER = "azure-native:dbforpostgresql:Server"
NSG = "azure-native:network:NetworkSecurityGroup"
WORLD = {"*", "0.0.0.0/0", "Internet", "any", "Any"}
# Sub-resources and role/lock/diagnostic objects that Azure gives no tags.
UNTAGGABLE = {
    "azure-native:network:Subnet",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:authorization:RoleAssignment",
    "azure-native:authorization:ManagementLockByScope",
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:monitor:SubscriptionDiagnosticSetting",
    "azure-native:storage:BlobServiceProperties",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:ManagementPolicy",
    "azure-native:dbforpostgresql:Configuration",
    "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra",
    "azure-native:dbforpostgresql:Database",
    "azure-native:dataprotection:BackupPolicy",
    "azure-native:security:Pricing",  # a subscription's Defender plan
}


def eu_config() -> dict[str, Any]:
    """prokuria's file moved to westeurope under jurisdiction EU, with a copy region inside the EU."""
    config = ireland_only_postgres_config()
    config.update(
        {
            "azure-native:location": "westeurope",
            "opcloud:platform": "tenders-eu",
            "opcloud:jurisdiction": "EU",
            "opcloud:region": "westeurope",
            "opcloud:backup": {
                "fullWeekday": "wednesday",
                "startTime": "02:15",
                "logIntervalMinutes": 10,
                "retentionDays": 42,
                "geoRedundancy": "region",
                "copyRegion": "northeurope",
            },
            "opcloud:database": {**config["opcloud:database"], "deletionProtection": False},
            # prokuria's release lives in prokuria's own store, which another platform may not read.
            "opcloud:app": {k: v for k, v in config["opcloud:app"].items() if k != "release"},
        }
    )
    return config


@pytest.fixture(scope="module")
def prokuria() -> Manifest:
    from opcloud.stacks.program import run

    return synthesize_program(run, stack=PROKURIA, config=ireland_only_postgres_config())


@pytest.fixture(scope="module")
def eu() -> Manifest:
    from opcloud.stacks.program import run

    return synthesize_program(run, stack=EU_STACK, config=eu_config())


def components_of(manifest: Manifest) -> set[str]:
    return {r.urn for r in manifest.resources if r.type.startswith("opcloud:")}


# -------------------------------------------------------------------------------------------- structure


def test_every_part_of_the_table_is_declared(prokuria: Manifest) -> None:
    types = {r.type for r in prokuria.resources}
    for part in ("ResourceGroup", "Network", "Keys", "DocumentStore", "Database", "Backups", "AppTier", "Audit"):
        assert f"opcloud:azure:{part}" in types


def test_every_provider_resource_is_parented_by_a_component(prokuria: Manifest) -> None:
    parents = components_of(prokuria)
    orphans = [r.name for r in prokuria.resources if not r.type.startswith("opcloud:") and r.parent not in parents]
    assert orphans == []


def test_every_taggable_resource_carries_the_stack_tags(prokuria: Manifest) -> None:
    for resource in prokuria.resources:
        if resource.type.startswith("opcloud:") or resource.type in UNTAGGABLE:
            continue
        tags = resource.inputs.get("tags", {})
        assert tags.get("owner") == "prokuria-platform", resource.name
        assert tags.get("jurisdiction") == "IE", resource.name
        assert tags.get("managed-by") == "opcloud", resource.name


def test_children_are_named_after_their_component(prokuria: Manifest) -> None:
    by_urn = {r.urn: r for r in prokuria.resources}
    for resource in prokuria.resources:
        parent = by_urn.get(resource.parent or "")
        if parent is not None:
            assert resource.name.startswith(f"{parent.name}-"), resource.name


def test_everything_lives_in_the_stack_region_and_group(prokuria: Manifest) -> None:
    for resource in prokuria.resources:
        location = resource.inputs.get("location")
        if location is not None:
            assert location in {"northeurope", "global"}, resource.name
        if resource.type == "azure-native:network:FlowLog":
            # A flow log is a child of the region's Network Watcher, which Azure keeps in its own group.
            assert resource.inputs["resourceGroupName"] == "NetworkWatcherRG", resource.name
        elif "resourceGroupName" in resource.inputs:
            assert resource.inputs["resourceGroupName"] == "prokuria-eu-prod-rg", resource.name


# ---------------------------------------------------------------------------------------------- storage


def test_storage_account_is_locked_down(prokuria: Manifest) -> None:
    account = prokuria.named("prokuria-eu-prod-documents-account").inputs
    assert account["kind"] == "StorageV2"
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["publicNetworkAccess"] == "Disabled"
    assert account["networkRuleSet"]["defaultAction"] == "Deny"


def test_storage_account_uses_the_vault_key_through_the_identity(prokuria: Manifest) -> None:
    account = prokuria.named("prokuria-eu-prod-documents-account").inputs
    identity = prokuria.named("prokuria-eu-prod-keys-identity")
    encryption = account["encryption"]
    assert encryption["requireInfrastructureEncryption"] is True
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"] == {
        "keyVaultUri": "https://prokuria-eu-prod-kv.vault.azure.net/",
        "keyName": "data",
    }
    identity_id = f"{identity.name}-id"
    assert encryption["encryptionIdentity"]["encryptionUserAssignedIdentity"] == identity_id
    assert account["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}


def test_storage_redundancy_follows_residency(prokuria: Manifest, eu: Manifest) -> None:
    # IE: the pair (westeurope) is in the Netherlands, so never GRS; EU: the pair is inside the union.
    assert prokuria.named("prokuria-eu-prod-documents-account").inputs["sku"] == {"name": "Standard_ZRS"}
    assert eu.named(f"{EU_STACK}-documents-account").inputs["sku"] == {"name": "Standard_GRS"}


def test_blob_versioning_soft_delete_and_private_container(prokuria: Manifest) -> None:
    service = prokuria.named("prokuria-eu-prod-documents-blob-service").inputs
    assert service["isVersioningEnabled"] is True
    assert service["changeFeed"]["enabled"] is True
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 30, "allowPermanentDelete": False}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 30}
    container = prokuria.one("azure-native:storage:BlobContainer").inputs
    assert container["containerName"] == "documents"
    assert container["publicAccess"] == "None"


def test_lifecycle_tiers(prokuria: Manifest) -> None:
    rule = prokuria.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"][0]
    actions = rule["definition"]["actions"]
    assert actions["baseBlob"]["tierToCool"] == {"daysAfterModificationGreaterThan": 30}
    assert actions["baseBlob"]["tierToArchive"] == {"daysAfterModificationGreaterThan": 180}
    assert actions["version"]["delete"] == {"daysAfterCreationGreaterThan": 365}


def test_private_endpoints_for_blob_and_vault_in_the_data_subnet(prokuria: Manifest) -> None:
    endpoints = prokuria.of_type("azure-native:network:PrivateEndpoint")
    groups = sorted(e.inputs["privateLinkServiceConnections"][0]["groupIds"][0] for e in endpoints)
    assert groups == ["blob", "vault"]
    for endpoint in endpoints:
        assert endpoint.inputs["subnet"]["id"] == "prokuria-eu-prod-network-data-a-id"


# ------------------------------------------------------------------------------------------------- keys


def test_key_vault_rbac_purge_protection_no_public_network(prokuria: Manifest) -> None:
    vault = prokuria.one("azure-native:keyvault:Vault").inputs
    props = vault["properties"]
    assert vault["vaultName"] == "prokuria-eu-prod-kv"
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    # Only the private endpoint reaches it, even though the stack has admin networks.
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"]["defaultAction"] == "Deny"
    assert props["networkAcls"]["ipRules"] == []
    assert "accessPolicies" not in props


def test_key_is_hsm_backed_and_rotates(prokuria: Manifest) -> None:
    props = prokuria.one("azure-native:keyvault:Key").inputs["properties"]
    assert props["kty"] == "RSA-HSM"
    assert props["keySize"] >= 3072
    actions = props["rotationPolicy"]["lifetimeActions"]
    rotate = [a for a in actions if a["action"]["type"] == "rotate"]
    assert rotate == [{"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P365D"}}]


def test_identity_may_use_the_key_and_nothing_else(prokuria: Manifest) -> None:
    grants = [
        r
        for r in prokuria.of_type("azure-native:authorization:RoleAssignment")
        if r.inputs["roleDefinitionId"].endswith(ROLE_CRYPTO_SERVICE_ENCRYPTION_USER)
    ]
    assert len(grants) == 1
    assert grants[0].inputs["scope"] == "prokuria-eu-prod-keys-key-id"
    assert grants[0].inputs["principalType"] == "ServicePrincipal"


# --------------------------------------------------------------------------------------------- database


def test_postgres_is_private_in_the_delegated_subnet(prokuria: Manifest) -> None:
    server = prokuria.one(SERVER).inputs
    assert server["network"] == {
        "publicNetworkAccess": "Disabled",
        "delegatedSubnetResourceId": "prokuria-eu-prod-network-postgres-id",
        "privateDnsZoneArmResourceId": "prokuria-eu-prod-network-postgres-dns-id",
    }
    subnet = prokuria.named("prokuria-eu-prod-network-postgres").inputs
    assert subnet["delegations"][0]["serviceName"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    assert subnet["addressPrefix"] == str(delegated_subnet_cidr(ipaddress.IPv4Network("10.60.0.0/16")))
    assert prokuria.of_type("azure-native:dbforpostgresql:FirewallRule") == []


def test_postgres_ha_backups_and_key(prokuria: Manifest) -> None:
    server = prokuria.one(SERVER).inputs
    assert server["version"] == "16"
    assert server["highAvailability"]["mode"] == "ZoneRedundant"
    assert server["backup"] == {"backupRetentionDays": 35, "geoRedundantBackup": "Disabled"}
    assert server["dataEncryption"] == {
        "type": "AzureKeyVault",
        "primaryKeyURI": "https://prokuria-eu-prod-kv.vault.azure.net/keys/data",
        "primaryUserAssignedIdentityId": "prokuria-eu-prod-keys-identity-id",
    }


def test_postgres_geo_backup_only_inside_the_jurisdiction(prokuria: Manifest, eu: Manifest) -> None:
    assert prokuria.one(SERVER).inputs["backup"]["geoRedundantBackup"] == "Disabled"
    assert eu.one(SERVER).inputs["backup"]["geoRedundantBackup"] == "Enabled"


def test_postgres_entra_only_no_password(prokuria: Manifest) -> None:
    server = prokuria.one(SERVER).inputs
    assert server["authConfig"]["passwordAuth"] == "Disabled"
    assert server["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert "administratorLogin" not in server and "administratorLoginPassword" not in server
    admin = prokuria.one("azure-native:dbforpostgresql:AdministratorsMicrosoftEntra").inputs
    assert admin["objectId"] == "00000000-0000-4000-8000-0000000000a1"
    assert admin["principalName"] == "prokuria-db-admins"
    assert admin["principalType"] == "Group"


def test_postgres_parameters_force_tls(prokuria: Manifest) -> None:
    values = {
        r.inputs["configurationName"]: r.inputs["value"]
        for r in prokuria.of_type("azure-native:dbforpostgresql:Configuration")
    }
    assert values["require_secure_transport"] == "ON"
    assert values["ssl_min_protocol_version"] == "TLSv1.2"
    assert values["log_connections"] == "ON"


def test_deletion_lock_follows_deletion_protection(prokuria: Manifest, eu: Manifest) -> None:
    def locks(manifest: Manifest) -> dict[str, str]:
        return {
            r.inputs["scope"]: r.inputs["level"]
            for r in manifest.of_type("azure-native:authorization:ManagementLockByScope")
        }

    # Production data (the database, the document account, the flow-log evidence) cannot be deleted
    # without removing a lock.
    assert locks(prokuria) == {
        "prokuria-eu-prod-database-server-id": "CanNotDelete",
        "prokuria-eu-prod-documents-account-id": "CanNotDelete",
        "prokuria-eu-prod-flow-logs-account-id": "CanNotDelete",
    }
    assert not [scope for scope in locks(eu) if scope.endswith("-database-server-id")]


# ---------------------------------------------------------------------------------------------- network


def nsg_rules(manifest: Manifest, tier: str) -> list[dict[str, Any]]:
    return manifest.named(f"prokuria-eu-prod-network-{tier}-nsg").inputs["securityRules"]


def sources(rule: dict[str, Any]) -> set[str]:
    return set(rule.get("sourceAddressPrefixes") or [rule.get("sourceAddressPrefix")])


def test_no_allow_rule_admits_the_world(prokuria: Manifest) -> None:
    for group in prokuria.of_type(NSG):
        for rule in group.inputs["securityRules"]:
            if rule["access"] == "Allow":
                assert not sources(rule) & WORLD, (group.name, rule["name"])


def test_every_nsg_ends_with_deny_all(prokuria: Manifest) -> None:
    assert len(prokuria.of_type(NSG)) == 3
    for group in prokuria.of_type(NSG):
        last = max(group.inputs["securityRules"], key=lambda rule: rule["priority"])
        assert last["access"] == "Deny"
        assert last["direction"] == "Inbound"
        assert sources(last) == {"*"} and last["destinationPortRange"] == "*" and last["protocol"] == "*"


def test_tiers_admit_only_their_allow_list(prokuria: Manifest) -> None:
    cidr, zones = ipaddress.IPv4Network("10.60.0.0/16"), 3
    public = {r["name"]: r for r in nsg_rules(prokuria, "public")}
    assert sources(public["allow-https-from-allowed"]) == {"198.51.100.0/25", "203.0.113.128/25"}
    assert public["allow-https-from-allowed"]["destinationPortRange"] == "443"
    app = {r["name"]: r for r in nsg_rules(prokuria, "app")}
    assert sources(app["allow-https-from-public"]) == set(tier_cidrs(cidr, zones, "public"))
    assert sources(app["allow-admin-ssh"]) == {"192.0.2.32/28"}
    data = {r["name"]: r for r in nsg_rules(prokuria, "data")}
    assert sources(data["allow-postgres-from-app"]) == set(tier_cidrs(cidr, zones, "app"))
    assert data["allow-postgres-from-app"]["destinationPortRange"] == "5432"


def test_subnets_carry_their_tier_nsg(prokuria: Manifest) -> None:
    subnets = prokuria.of_type("azure-native:network:Subnet")
    assert len(subnets) == 10  # 3 tiers x 3 zones + the delegated PostgreSQL subnet
    for subnet in subnets:
        tier = subnet.name.removeprefix("prokuria-eu-prod-network-").split("-")[0]
        tier = "data" if tier == "postgres" else tier
        assert subnet.inputs["networkSecurityGroup"]["id"] == f"prokuria-eu-prod-network-{tier}-nsg-id"


# --------------------------------------------------------------------------------------------- app tier


def test_waf_prevention_owasp_allow_list_and_rate_limit(prokuria: Manifest) -> None:
    waf = prokuria.one("azure-native:network:WebApplicationFirewallPolicy").inputs
    assert waf["policySettings"]["mode"] == "Prevention"
    assert waf["policySettings"]["state"] == "Enabled"
    assert waf["managedRules"]["managedRuleSets"][0]["ruleSetType"] == "OWASP"
    rules = {r["name"]: r for r in waf["customRules"]}
    block = rules["BlockOutsideAllowList"]
    assert block["action"] == "Block"
    assert block["matchConditions"][0]["negationConditon"] is True
    assert block["matchConditions"][0]["matchValues"] == ["198.51.100.0/25", "203.0.113.128/25"]
    limit = rules["RateLimitPerClient"]
    assert limit["ruleType"] == "RateLimitRule"
    assert limit["rateLimitThreshold"] == 1000
    assert limit["rateLimitDuration"] == "FiveMins"


def test_gateway_listens_on_443_only_with_tls12(prokuria: Manifest) -> None:
    gateway = prokuria.one("azure-native:network:ApplicationGateway").inputs
    assert gateway["sku"]["tier"] == "WAF_v2"
    assert [p["port"] for p in gateway["frontendPorts"]] == [443]
    assert {listener["protocol"] for listener in gateway["httpListeners"]} == {"Https"}
    assert gateway["sslPolicy"]["policyName"] == "AppGwSslPolicy20220101S"
    assert (
        gateway["sslCertificates"][0]["keyVaultSecretId"]
        == "https://prokuria-eu-prod-kv.vault.azure.net/secrets/app-tls"
    )
    assert gateway["firewallPolicy"]["id"] == "prokuria-eu-prod-app-waf-id"
    # The gateway's IP is the only public IP of the stack.
    assert [ip.name for ip in prokuria.of_type("azure-native:network:PublicIPAddress")] == [
        "prokuria-eu-prod-app-gateway-ip"
    ]


def test_scale_sets_private_encrypted_at_host_auto_upgraded(prokuria: Manifest) -> None:
    scale_sets = prokuria.of_type("azure-native:compute:VirtualMachineScaleSet")
    assert sorted(s.inputs["vmScaleSetName"] for s in scale_sets) == ["prokuria-eu-prod-api", "prokuria-eu-prod-docs"]
    for scale_set in scale_sets:
        inputs = scale_set.inputs
        profile = inputs["virtualMachineProfile"]
        assert profile["securityProfile"]["encryptionAtHost"] is True
        assert inputs["upgradePolicy"]["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is True
        assert inputs["identity"]["type"] == "SystemAssigned, UserAssigned"  # + the role's release reader
        assert profile["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
        assert "adminPassword" not in profile["osProfile"]
        for nic in profile["networkProfile"]["networkInterfaceConfigurations"]:
            for ip in nic["ipConfigurations"]:
                assert "publicIPAddressConfiguration" not in ip
                assert ip["subnet"]["id"] == "prokuria-eu-prod-network-app-a-id"


# ---------------------------------------------------------------------------------------------- backups


def test_backup_policy_schedule_comes_from_schedules(prokuria: Manifest, eu: Manifest) -> None:
    for manifest, config in ((prokuria, ireland_only_postgres_config()), (eu, eu_config())):
        schedule = schedule_of(from_config(config, "test"))
        policy = manifest.named(f"{manifest.stack}-backups-postgres-policy").inputs["properties"]
        trigger = policy["policyRules"][0]["trigger"]
        expected = azure_full_repeating_interval(schedule, azure_anchor_date(schedule.full_weekday))
        assert trigger["schedule"]["repeatingTimeIntervals"] == [expected]
        retention = policy["policyRules"][1]["lifecycles"][0]["deleteAfter"]["duration"]
        assert retention == f"P{schedule.retention_days}D"
    wednesday = eu.named(f"{EU_STACK}-backups-postgres-policy").inputs["properties"]["policyRules"][0]
    assert wednesday["trigger"]["schedule"]["repeatingTimeIntervals"] == ["R/2024-01-03T02:15:00+00:00/P1W"]


def test_backup_vault_redundancy_and_immutability(prokuria: Manifest, eu: Manifest) -> None:
    vault = prokuria.one("azure-native:dataprotection:BackupVault").inputs["properties"]
    assert vault["storageSettings"] == [{"datastoreType": "VaultStore", "type": "ZoneRedundant"}]
    assert vault["securitySettings"]["immutabilitySettings"]["state"] == "Locked"
    assert vault["securitySettings"]["softDeleteSettings"]["state"] == "AlwaysOn"
    eu_vault = eu.one("azure-native:dataprotection:BackupVault").inputs["properties"]
    assert eu_vault["storageSettings"][0]["type"] == "GeoRedundant"


def test_backup_instances_cover_database_and_documents(prokuria: Manifest) -> None:
    instances = prokuria.of_type("azure-native:dataprotection:BackupInstance")
    sources_ = {i.inputs["properties"]["dataSourceInfo"]["resourceID"] for i in instances}
    assert sources_ == {"prokuria-eu-prod-database-server-id", "prokuria-eu-prod-documents-account-id"}
    blob_policy = prokuria.named("prokuria-eu-prod-backups-blob-policy").inputs["properties"]
    assert blob_policy["datasourceTypes"] == ["Microsoft.Storage/storageAccounts/blobServices"]


# ------------------------------------------------------------------------------------------------ audit


def test_diagnostic_settings_send_audit_logs_to_the_workspace(prokuria: Manifest) -> None:
    workspace = prokuria.one("azure-native:operationalinsights:Workspace")
    assert workspace.inputs["retentionInDays"] == 365
    targets = {
        d.inputs["resourceUri"]: d.inputs["workspaceId"]
        for d in prokuria.of_type("azure-native:monitor:DiagnosticSetting")
    }
    assert targets == {
        "prokuria-eu-prod-flow-logs-account-id/blobServices/default": "prokuria-eu-prod-audit-workspace-id",
        "prokuria-eu-prod-keys-vault-id": "prokuria-eu-prod-audit-workspace-id",
        "prokuria-eu-prod-database-server-id": "prokuria-eu-prod-audit-workspace-id",
        "prokuria-eu-prod-documents-account-id/blobServices/default": "prokuria-eu-prod-audit-workspace-id",
        "prokuria-eu-prod-app-gateway-id": "prokuria-eu-prod-audit-workspace-id",
    }
    activity = prokuria.one("azure-native:monitor:SubscriptionDiagnosticSetting").inputs
    assert activity["workspaceId"] == "prokuria-eu-prod-audit-workspace-id"


def test_outputs_are_exported(prokuria: Manifest) -> None:
    assert prokuria.outputs["keyId"] == "https://prokuria-eu-prod-kv.vault.azure.net/keys/data"
    assert prokuria.outputs["documentStore"] == "prokuriaeuproddocs"
    assert prokuria.outputs["databaseEndpoint"] == "prokuria-eu-prod-pg.postgres.database.azure.com"
    assert prokuria.outputs["url"] == "https://app.prokuria.eu"
