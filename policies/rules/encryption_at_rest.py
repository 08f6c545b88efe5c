"""Encryption at rest with a customer-managed key, and the key rotated.

One exception, forced by AWS: buckets that receive S3 server access logs or load balancer access logs
can only be encrypted with SSE-S3 (AWS log delivery cannot use a KMS key), so such a log target passes
with AES256 and the report says why.
"""

from __future__ import annotations

from opcloud.policies import azure_sql, iaas
from opcloud.policies import resources as res
from opcloud.policies.model import A_8_24, ResourceView, Severity, StackView, Verdict, resource_rule

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def _log_delivery_target(bucket: ResourceView, stack: StackView) -> bool:
    """Is the bucket where AWS itself delivers S3 or load balancer access logs?"""
    if stack.referencing(bucket, *res.S3_LOGGING, prop="targetBucket"):
        return True
    for lb in stack.of_type(*res.LB):
        if bucket in stack.resolve(lb.get("accessLogs.bucket")) and res.truthy(lb.get("accessLogs.enabled", True)):
            return True
    return False


def _bucket(bucket: ResourceView, stack: StackView) -> Verdict:
    configs = stack.referencing(bucket, *res.S3_ENCRYPTION, prop="bucket")
    if not configs:
        return False, "no server-side encryption configuration with a customer-managed KMS key"
    for config in configs:
        for rule in res.as_list(config.get("rules")):
            default = (rule or {}).get("applyServerSideEncryptionByDefault") or {}
            if default.get("sseAlgorithm") in KMS_ALGORITHMS and default.get("kmsMasterKeyId"):
                return True, f"SSE-KMS with customer-managed key ({config.name})"
            if default.get("sseAlgorithm") == "AES256" and _log_delivery_target(bucket, stack):
                return True, "SSE-S3: AWS access-log delivery target, which cannot use a KMS key"
    return False, "encryption does not use a customer-managed KMS key (sseAlgorithm aws:kms with kmsMasterKeyId)"


def _flag_and_key(resource: ResourceView, flag: str | None, key: str) -> Verdict:
    if flag is not None and not res.truthy(resource.get(flag)):
        return False, f"{flag} is not true"
    if not resource.get(key):
        return False, f"no customer-managed key ({key})"
    return True, f"encrypted with customer-managed key ({key})"


@resource_rule(
    name="encryption-at-rest-cmk",
    description="Data stores are encrypted at rest with a customer-managed key.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Encrypt with the stack's KMS key / Key Vault key (the keys component's key_id).",
    needs_stack=True,
)
def encryption_at_rest(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    t = resource.type
    if t in res.S3_BUCKET:
        return [_bucket(resource, stack)]
    if t in res.RDS_INSTANCE or t in res.RDS_CLUSTER or t in res.EBS_VOLUME or t in res.EFS:
        flag = "encrypted" if t in res.EBS_VOLUME or t in res.EFS else "storageEncrypted"
        return [_flag_and_key(resource, flag, "kmsKeyId")]
    if t in res.BACKUP_VAULT:
        return [_flag_and_key(resource, None, "kmsKeyArn")]
    if t in res.CLOUDTRAIL or t in res.LOG_GROUP or t in res.SECRETS_MANAGER_SECRET:
        return [_flag_and_key(resource, None, "kmsKeyId")]
    if t in res.AZ_STORAGE:
        if res.normalize_location(str(resource.get("encryption.keySource", ""))) != "microsoft.keyvault":
            return [(False, "encryption.keySource is not Microsoft.Keyvault (customer-managed key)")]
        if not resource.get("encryption.keyVaultProperties.keyName"):
            return [(False, "encryption.keyVaultProperties names no key")]
        if not res.truthy(resource.get("encryption.requireInfrastructureEncryption")):
            return [(False, "infrastructure (double) encryption is off")]
        return [(True, "Key Vault key with infrastructure encryption")]
    if t in res.AZ_PG:
        if resource.get("dataEncryption.type") != "AzureKeyVault" or not resource.get("dataEncryption.primaryKeyURI"):
            return [(False, "dataEncryption is not AzureKeyVault with a primaryKeyURI")]
        if res.truthy(resource.get("backup.geoRedundantBackup")) and not resource.get("dataEncryption.geoBackupKeyURI"):
            return [(False, "geo-redundant backups without dataEncryption.geoBackupKeyURI")]
        return [(True, "Key Vault key (dataEncryption)")]
    if t in res.AZ_SQL:
        return [azure_sql.tde_with_our_key(stack, resource)]
    if t in res.AZ_BACKUP_VAULT:
        settings = resource.get("properties.securitySettings.encryptionSettings") or {}
        if settings.get("state") == "Enabled" and (settings.get("keyVaultProperties") or {}).get("keyUri"):
            return [(True, "Key Vault key (encryptionSettings)")]
        return [(False, "backup vault not encrypted with a customer-managed key (securitySettings.encryptionSettings)")]
    if iaas.kind(resource) == "filesystem":
        device = str(iaas.spec_value(resource, "device") or "")
        host, volume = resource.get("host"), iaas.spec_value(resource, "volume")
        luks = [
            r
            for r in stack.resources
            if iaas.kind(r) == "luks" and r.get("host") == host and iaas.spec_value(r, "volume") == volume
        ]
        if device.startswith("/dev/mapper/") and luks:
            key = iaas.spec_value(luks[0], "key")
            return [(True, f"LUKS volume {volume}, key from {key} (never on the VM's disk image)")]
        return [(False, f"filesystem on {device or 'an unknown device'} is not on a LUKS mapping")]
    if t in res.AZ_DISK:
        return [_flag_and_key(resource, None, "encryption.diskEncryptionSetId")]
    return None


@resource_rule(
    name="key-rotation",
    description="Customer-managed keys rotate automatically, at least yearly.",
    control=A_8_24,
    severity=Severity.MEDIUM,
    remediation="Enable rotation (KMS enableKeyRotation; Key Vault rotationPolicy with a rotate action).",
    not_applicable={
        "iaas": "a VM-only cloud has no managed key service with rotation: LUKS keys are referenced secrets kept "
        "off the hosts (encryption-at-rest-cmk)"
    },
)
def key_rotation(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.KMS_KEY:
        if resource.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            return None  # AWS rotates symmetric keys only
        if not res.truthy(resource.get("enableKeyRotation")):
            return [(False, "enableKeyRotation is not true")]
        period = res.number(resource.get("rotationPeriodInDays", 365))
        if period is not None and period > 365:
            return [(False, f"rotation every {res.days(period)} days, more than a year")]
        return [(True, f"rotated every {res.days(period or 365)} days")]
    if resource.type in res.AZ_KEY:
        actions = res.as_list(resource.get("properties.rotationPolicy.lifetimeActions"))
        rotate = [a for a in actions if str(((a or {}).get("action") or {}).get("type", "")).lower() == "rotate"]
        if not rotate:
            return [(False, "no rotationPolicy with a 'rotate' lifetime action")]
        trigger = (rotate[0] or {}).get("trigger") or {}
        return [(True, f"rotated ({trigger.get('timeAfterCreate') or trigger.get('timeBeforeExpiry') or 'policy'})")]
    return None


RULES = (encryption_at_rest, key_rotation)
