import json

from opcloud.policies.rules.encryption_at_rest import encryption_at_rest, key_rotation
from opcloud.policies.rules.encryption_in_transit import (
    no_plaintext_listeners,
    postgres_ssl_required,
    tls_minimum_version,
    tls_only_bucket_policy,
)

from tests.policies.conftest import make, verdict

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_ARN = "arn:aws:kms:eu-west-1:123456789012:key/abc"


def _sse(algorithm: str, key: str | None = None, name: str = "sse", bucket: str = "docs-id"):
    default = {"sseAlgorithm": algorithm, **({"kmsMasterKeyId": key} if key else {})}
    return make(SSE, name, bucket=bucket, rules=[{"applyServerSideEncryptionByDefault": default}])


def test_bucket_with_cmk_passes_and_without_config_fails() -> None:
    bucket = make(BUCKET, "docs")
    assert verdict(encryption_at_rest, bucket, _sse("aws:kms", KMS_ARN)) is True
    assert verdict(encryption_at_rest, bucket) is False
    assert verdict(encryption_at_rest, bucket, _sse("aws:kms")) is False  # AWS-managed key


def test_sse_s3_is_accepted_only_on_a_log_delivery_target() -> None:
    logs = make(BUCKET, "logs", bucket="logs-bucket")
    sse = _sse("AES256", bucket="logs-id")
    assert verdict(encryption_at_rest, logs, sse) is False
    logging = make("aws:s3/bucketLogging:BucketLogging", "lg", bucket="docs-id", targetBucket="logs-bucket")
    assert verdict(encryption_at_rest, logs, sse, logging) is True


def test_rds_needs_storage_encryption_with_a_key() -> None:
    rds = "aws:rds/instance:Instance"
    assert verdict(encryption_at_rest, make(rds, "db", storageEncrypted=True, kmsKeyId=KMS_ARN)) is True
    assert verdict(encryption_at_rest, make(rds, "db", storageEncrypted=True)) is False
    assert verdict(encryption_at_rest, make(rds, "db", storageEncrypted=False, kmsKeyId=KMS_ARN)) is False


def test_azure_storage_and_postgres_need_key_vault_keys() -> None:
    good = make(
        "azure-native:storage:StorageAccount",
        "sa",
        encryption={
            "keySource": "Microsoft.Keyvault",
            "keyVaultProperties": {"keyName": "data"},
            "requireInfrastructureEncryption": True,
        },
    )
    assert verdict(encryption_at_rest, good) is True
    assert verdict(encryption_at_rest, make("azure-native:storage:StorageAccount", "sa")) is False
    pg = "azure-native:dbforpostgresql:Server"
    assert verdict(encryption_at_rest, make(pg, "pg", dataEncryption={"type": "SystemManaged"})) is False
    cmk = {"type": "AzureKeyVault", "primaryKeyURI": "https://kv/keys/data"}
    assert verdict(encryption_at_rest, make(pg, "pg", dataEncryption=cmk)) is True


def test_key_rotation() -> None:
    assert verdict(key_rotation, make("aws:kms/key:Key", "k", enableKeyRotation=True)) is True
    assert verdict(key_rotation, make("aws:kms/key:Key", "k", enableKeyRotation=False)) is False
    assert (
        verdict(key_rotation, make("aws:kms/key:Key", "k", enableKeyRotation=True, rotationPeriodInDays=730.0)) is False
    )
    rotate = {"lifetimeActions": [{"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P90D"}}]}
    assert verdict(key_rotation, make("azure-native:keyvault:Key", "k", properties={"rotationPolicy": rotate})) is True
    assert verdict(key_rotation, make("azure-native:keyvault:Key", "k", properties={})) is False


def test_tls_only_bucket_policy() -> None:
    bucket = make(BUCKET, "docs")
    deny = {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    good = make("aws:s3/bucketPolicy:BucketPolicy", "p", bucket="docs-id", policy=json.dumps({"Statement": [deny]}))
    assert verdict(tls_only_bucket_policy, bucket, good) is True
    allow = make("aws:s3/bucketPolicy:BucketPolicy", "p", bucket="docs-id", policy=json.dumps({"Statement": []}))
    assert verdict(tls_only_bucket_policy, bucket, allow) is False
    assert verdict(tls_only_bucket_policy, bucket) is False


def test_tls_minimum_version() -> None:
    sa = "azure-native:storage:StorageAccount"
    assert verdict(tls_minimum_version, make(sa, "sa", minimumTlsVersion="TLS1_2")) is True
    assert verdict(tls_minimum_version, make(sa, "sa", minimumTlsVersion="TLS1_0")) is False
    listener = "aws:lb/listener:Listener"
    good = make(listener, "l", protocol="HTTPS", sslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06")
    assert verdict(tls_minimum_version, good) is True
    assert (
        verdict(tls_minimum_version, make(listener, "l", protocol="HTTPS", sslPolicy="ELBSecurityPolicy-2016-08"))
        is False
    )
    gw = "azure-native:network:ApplicationGateway"
    assert verdict(tls_minimum_version, make(gw, "gw", sslPolicy={"minProtocolVersion": "TLSv1_2"})) is True
    assert verdict(tls_minimum_version, make(gw, "gw", sslPolicy={"minProtocolVersion": "TLSv1_0"})) is False


def test_postgres_ssl_required() -> None:
    rds = make("aws:rds/instance:Instance", "db", engine="postgres", parameterGroupName="params")
    force = make(
        "aws:rds/parameterGroup:ParameterGroup", "params", parameters=[{"name": "rds.force_ssl", "value": "1"}]
    )
    off = make("aws:rds/parameterGroup:ParameterGroup", "params", parameters=[{"name": "rds.force_ssl", "value": "0"}])
    assert verdict(postgres_ssl_required, rds, force) is True
    assert verdict(postgres_ssl_required, rds, off) is False
    assert verdict(postgres_ssl_required, rds) is False
    pg = make("azure-native:dbforpostgresql:Server", "pg")
    config = make(
        "azure-native:dbforpostgresql:Configuration",
        "cfg",
        serverName="pg",
        configurationName="require_secure_transport",
        value="off",
    )
    assert verdict(postgres_ssl_required, pg, config) is False
    assert verdict(postgres_ssl_required, pg) is True  # the service default is on


def test_no_plaintext_listeners() -> None:
    listener = "aws:lb/listener:Listener"
    redirect = [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]
    assert verdict(no_plaintext_listeners, make(listener, "l", protocol="HTTP", port=80, defaultActions=redirect))
    forward = [{"type": "forward", "targetGroupArn": "tg"}]
    assert (
        verdict(no_plaintext_listeners, make(listener, "l", protocol="HTTP", port=80, defaultActions=forward)) is False
    )
