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
