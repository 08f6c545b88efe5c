from dataclasses import replace

from opcloud.policies.model import UNKNOWN, ResourceView
from opcloud.policies.rules.residency import data_residency, provider_residency

from tests.policies.conftest import EU_AZURE, IE_AZURE, make, run, verdict

BUCKET = "aws:s3/bucket:Bucket"


def test_bucket_in_the_jurisdiction_passes_and_abroad_fails() -> None:
    assert verdict(data_residency, make(BUCKET, "docs", region="eu-west-1")) is True
    assert verdict(data_residency, make(BUCKET, "docs", region="us-east-1")) is False


def test_region_falls_back_to_the_stack_region() -> None:
    assert verdict(data_residency, make(BUCKET, "docs")) is True


def test_unknown_region_is_a_violation_not_a_guess() -> None:
    findings = run(data_residency, make(BUCKET, "docs", region="mars-north-1"))
    assert not findings[0].ok and "not in the residency registry" in findings[0].message


def test_replication_to_a_bucket_abroad_fails() -> None:
    source = make(BUCKET, "docs", region="eu-west-1")
    abroad = make(BUCKET, "replica", region="us-east-1")
    config = make(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "repl",
        bucket="docs-id",
        rules=[{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:mock:123456789012:replica"}}],
    )
    assert verdict(data_residency, config, source, abroad) is False
    inside = make(BUCKET, "replica", region="eu-central-1")
    assert verdict(data_residency, config, source, inside) is True


def test_replication_to_an_unknown_bucket_fails() -> None:
    config = make(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "repl",
        rules=[{"destination": {"bucket": "arn:aws:s3:::somebody-elses-bucket"}}],
    )
    assert verdict(data_residency, config) is False


def test_backup_copy_to_a_vault_abroad_fails_even_by_arn() -> None:
    plan = make(
        "aws:backup/plan:Plan",
        "plan",
        rules=[{"copyActions": [{"destinationVaultArn": "arn:aws:backup:us-east-1:123456789012:backup-vault:x"}]}],
    )
    assert verdict(data_residency, plan) is False
    plan_eu = make(
        "aws:backup/plan:Plan",
        "plan",
        rules=[{"copyActions": [{"destinationVaultArn": "arn:aws:backup:eu-north-1:123456789012:backup-vault:x"}]}],
    )
    assert verdict(data_residency, plan_eu) is True


def test_azure_geo_redundant_storage_leaves_ireland_but_not_the_eu() -> None:
    grs = make("azure-native:storage:StorageAccount", "docs", location="northeurope", sku={"name": "Standard_GRS"})
    assert verdict(data_residency, grs, context=IE_AZURE) is False  # the pair, westeurope, is in NL
    assert verdict(data_residency, grs, context=EU_AZURE) is True
    zrs = make("azure-native:storage:StorageAccount", "docs", location="northeurope", sku={"name": "Standard_ZRS"})
    assert verdict(data_residency, zrs, context=IE_AZURE) is True


def test_azure_geo_backup_of_postgres_in_ireland_fails() -> None:
    server = make(
        "azure-native:dbforpostgresql:Server", "pg", location="northeurope", backup={"geoRedundantBackup": "Enabled"}
    )
    assert verdict(data_residency, server, context=IE_AZURE) is False


def test_non_data_resources_are_not_applicable() -> None:
    assert verdict(data_residency, make("aws:ec2/vpc:Vpc", "vpc")) is None


def test_provider_configured_abroad_fails() -> None:
    assert verdict(provider_residency, make("pulumi:providers:aws", "copy", region="us-west-2")) is False
    assert verdict(provider_residency, make("pulumi:providers:aws", "copy", region="eu-north-1")) is True
    assert verdict(provider_residency, make("pulumi:providers:aws", "default")) is None


# -------------------------------------------------------------------- a primary pin inside the jurisdiction
EU_PINNED_IE = replace(EU_AZURE, primary_jurisdiction="IE", copy_region="westeurope")
SQL_SERVER = "azure-native:sql:Server"


def _failover(primary: str, partner: str) -> ResourceView:
    return make(
        "azure-native:sql:FailoverGroup",
        "fog",
        serverName=f"{primary}-id",
        partnerServers=[{"id": f"{partner}-id"}],
    )


def test_a_primary_outside_the_pin_is_refused_though_inside_the_jurisdiction() -> None:
    server = make(SQL_SERVER, "primary", location="westeurope")
    findings = [f for f in run(data_residency, server, context=EU_PINNED_IE) if not f.ok]
    assert [f.message for f in findings] == ["primary data store in westeurope (NL), outside the primary pin IE"]
    assert verdict(data_residency, make(SQL_SERVER, "primary", location="northeurope"), context=EU_PINNED_IE)


def test_a_copy_inside_the_jurisdiction_passes_under_the_pin() -> None:
    primary = make(SQL_SERVER, "primary", location="northeurope")
    secondary = make(SQL_SERVER, "secondary", location="westeurope")
    group = _failover("primary", "secondary")
    assert verdict(data_residency, secondary, primary, group, context=EU_PINNED_IE) is True
    assert verdict(data_residency, group, primary, secondary, context=EU_PINNED_IE) is True
    # The same server without the failover group naming it is a second primary, outside the pin.
    assert verdict(data_residency, secondary, primary, context=EU_PINNED_IE) is False


def test_a_copy_outside_the_jurisdiction_is_refused_by_name() -> None:
    primary = make(SQL_SERVER, "primary", location="northeurope")
    secondary = make(SQL_SERVER, "secondary", location="uksouth")
    group = _failover("primary", "secondary")
    findings = run(data_residency, group, primary, secondary, context=EU_PINNED_IE)
    assert [f.message for f in findings if not f.ok and f.urn == group.urn] == [
        "failover group partner secondary in uksouth (GB), outside jurisdiction EU"
    ]
    assert verdict(data_residency, secondary, primary, group, context=EU_PINNED_IE) is False


def test_azure_sql_geo_backup_storage_is_a_copy_to_the_pair() -> None:
    database = make("azure-native:sql:Database", "db", location="northeurope", requestedBackupStorageRedundancy="Geo")
    assert verdict(data_residency, database, context=EU_PINNED_IE) is True
    ireland_only = replace(IE_AZURE)
    messages = [f.message for f in run(data_residency, database, context=ireland_only) if not f.ok]
    assert messages == ["geo-redundant backup storage in westeurope (NL), outside jurisdiction IE"]


def test_an_unknown_partner_region_is_pending_not_passed() -> None:
    group = make("azure-native:sql:FailoverGroup", "fog", partnerServers=[{"id": UNKNOWN}])
    findings = run(data_residency, group, context=EU_PINNED_IE)
    assert [f.evaluated for f in findings] == [False]


def test_the_default_provider_must_lie_in_the_pin() -> None:
    outside = replace(EU_PINNED_IE, region="westeurope", copy_region="northeurope")
    messages = [f.message for f in run(provider_residency, context=outside) if not f.ok]
    assert messages == ["default provider (primary) in westeurope (NL), outside the primary pin IE"]
    assert all(f.ok for f in run(provider_residency, context=EU_PINNED_IE))
