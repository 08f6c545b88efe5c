"""Object storage hardening: versions, no ACLs, lifecycle, no public grants, audit logs copied, Azure accounts."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_5_33,
    A_8_12,
    A_8_13,
    UNKNOWN,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
)
from opcloud.policies.rules import links

from opcloud import residency


@resource_rule(
    name="s3-versioning",
    description="Every S3 bucket keeps object versions, so an overwrite or delete can be undone.",
    control=A_8_13,
    severity=Severity.MEDIUM,
    remediation="Add BucketVersioning with status Enabled.",
    needs_stack=True,
    not_applicable={
        "azure": "Azure blob versioning is part of the document store (backups)",
        "iaas": "documents are an NFS share",
    },
)
def s3_versioning(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.S3_BUCKET:
        return None
    configs = stack.referencing(resource, *res.S3_VERSIONING, prop="bucket")
    if any((c.get("versioningConfiguration") or {}).get("status") == "Enabled" for c in configs):
        return [(True, "versioning enabled")]
    return [(False, "versioning not enabled")]


@resource_rule(
    name="s3-acls-disabled",
    description="S3 ACLs are disabled (object ownership BucketOwnerEnforced) and no ACL grants public access.",
    control=A_8_12,
    severity=Severity.HIGH,
    remediation="BucketOwnershipControls with objectOwnership BucketOwnerEnforced; drop BucketAcl resources.",
    needs_stack=True,
    not_applicable={
        "azure": "Azure storage has no object ACLs (public-access-blocked)",
        "iaas": "documents are an NFS share",
    },
)
def s3_acls_disabled(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.S3_BUCKET:
        return None
    public_acls = ("public-read", "public-read-write", "authenticated-read")
    acls = stack.referencing(resource, *res.S3_ACL, prop="bucket")
    if resource.get("acl") in public_acls or any(a.get("acl") in public_acls for a in acls):
        return [(False, "a canned ACL grants public access")]
    controls = stack.referencing(resource, *res.S3_OWNERSHIP, prop="bucket")
    if any(c.get("rule.objectOwnership") == "BucketOwnerEnforced" for c in controls):
        return [(True, "ACLs disabled (BucketOwnerEnforced)")]
    return [(False, "ACLs still in effect: no BucketOwnerEnforced ownership controls")]


@resource_rule(
    name="s3-lifecycle",
    description="Every S3 bucket has a lifecycle: versions and records expire or move on as planned, and failed "
    "multipart uploads are aborted.",
    control=A_5_33,
    severity=Severity.LOW,
    remediation="Add a BucketLifecycleConfiguration with an abortIncompleteMultipartUpload rule.",
    needs_stack=True,
    not_applicable={
        "azure": "Azure lifecycle management is part of the document store",
        "iaas": "documents are an NFS share",
    },
)
def s3_lifecycle(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.S3_BUCKET:
        return None
    configs = links.by_name(stack.referencing(resource, *res.S3_LIFECYCLE, prop="bucket"))
    rules = [r for c in configs for r in res.as_list(c.get("rules")) if isinstance(r, Mapping)]
    enabled = [r for r in rules if r.get("status") == "Enabled"]
    if not enabled:
        return [(False, "no enabled lifecycle rule")]
    if not any(r.get("abortIncompleteMultipartUpload") for r in enabled):
        return [(False, "failed multipart uploads are never aborted")]
    return [(True, f"lifecycle {res.names(configs)}")]


def _allow_statements(policy: ResourceView) -> Iterator[Mapping]:
    document = res.parse_json(policy.get("policy"))
    if isinstance(document, Mapping):
        for statement in res.as_list(document.get("Statement")):
            if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
                yield statement


@resource_rule(
    name="s3-policy-no-public-allow",
    description="No bucket policy allows any principal ('*'): grants name an account or a service.",
    control=A_8_12,
    severity=Severity.CRITICAL,
    remediation="Replace Principal '*' by the account or service principal, with aws:SourceAccount.",
    not_applicable={
        "azure": "Azure storage has no bucket policies",
        "iaas": "no object store policies on a VM-only cloud",
    },
)
def s3_policy_no_public_allow(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.S3_POLICY:
        return None
    if resource.get("policy") == UNKNOWN:
        return [pending("the bucket policy")]
    if res.parse_json(resource.get("policy")) is None:
        return [(False, "bucket policy cannot be read")]
    for statement in _allow_statements(resource):
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
        if "*" in res.as_list(aws):
            return [(False, f"statement {statement.get('Sid', '?')} allows any principal")]
    return [(True, "every Allow names its principal")]


LOCKOUT_ACTIONS = ("s3:PutBucketPolicy", "s3:*BucketPolicy", "s3:Put*", "s3:*", "*")


@resource_rule(
    name="s3-policy-no-lockout",
    description="No bucket policy denies everyone, without a condition, the right to change the policy: only the "
    "root user could undo it.",
    control=A_8_12,
    severity=Severity.MEDIUM,
    remediation="Add a condition to the Deny (aws:SecureTransport, aws:PrincipalArn...) or narrow its actions.",
    not_applicable={
        "azure": "Azure storage has no bucket policies",
        "iaas": "no object store policies on a VM-only cloud",
    },
)
def s3_policy_no_lockout(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.S3_POLICY:
        return None
    if resource.get("policy") == UNKNOWN:
        return [pending("the bucket policy")]
    document = res.parse_json(resource.get("policy"))
    if not isinstance(document, Mapping):
        return [(False, "bucket policy cannot be read")]
    for statement in res.as_list(document.get("Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
        if "*" in res.as_list(aws) and set(map(str, res.as_list(statement.get("Action")))) & set(LOCKOUT_ACTIONS):
            return [(False, f"statement {statement.get('Sid', '?')} denies everyone the bucket policy")]
    return [(True, "no unconditional deny of the policy to everyone")]


def _log_buckets(stack: StackView) -> list[ResourceView]:
    """The CloudTrail bucket(s) and the access-log delivery target(s)."""
    found = {t.urn: t for tr in stack.of_type(*res.CLOUDTRAIL) for t in stack.resolve(tr.get("s3BucketName"))}
    found |= {t.urn: t for lg in stack.of_type(*res.S3_LOGGING) for t in stack.resolve(lg.get("targetBucket"))}
    return list(found.values())


@resource_rule(
    name="audit-logs-replicated",
    description="Where the stack has a copy region, the audit trail and access-log buckets replicate to it, "
    "inside the jurisdiction: the records survive the loss of the primary region.",
    control=A_5_33,
    severity=Severity.HIGH,
    remediation="Replicate the log buckets to the copy region (components/aws/audit.py).",
    needs_stack=True,
    not_applicable={
        "azure": "Azure audit logs go to Log Analytics, not buckets",
        "iaas": "IaaS logs are shipped over TLS by the host steps",
        "program:test-stand": "the test stand keeps no audit-log buckets",
    },
)
def audit_logs_replicated(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    ctx = stack.context
    if resource.type not in res.S3_BUCKET or resource not in _log_buckets(stack):
        return None
    if ctx.copy_region is None:
        return [(True, "no copy region: the logs stay in S3's copies across the region's availability zones")]
    configs = stack.referencing(resource, *res.S3_REPLICATION, prop="bucket")
    regions = []
    waiting = False
    for config in configs:
        for rule in res.as_list(config.get("rules")):
            if isinstance(rule, Mapping) and rule.get("status") == "Enabled":
                destination = (rule.get("destination") or {}).get("bucket")
                if destination == UNKNOWN or config.get("rules") == UNKNOWN:
                    waiting = True  # the replica's ARN is known at `pulumi up`, checked again then
                    continue
                regions.append(res.target_region(stack, destination)[1])
        waiting = waiting or config.get("rules") == UNKNOWN
    if not regions and waiting:
        return [pending("the replica's ARN")]
    if not regions:
        return [(False, "audit logs not replicated to the copy region")]
    for region in regions:
        country = res.country("aws", region) if region else None
        if region is None or region == ctx.region:
            return [(False, f"replica region {region or 'unknown'} is not a second region")]
        if not (ctx.jurisdiction and country and residency.within(ctx.jurisdiction, country)):
            return [(False, f"replica in {region} ({country or 'unknown'}), outside {ctx.jurisdiction}")]
    return [(True, f"replicated to {', '.join(str(r) for r in regions)}")]


@resource_rule(
    name="azure-storage-hardening",
    description="Azure storage accounts take Entra ID only (no shared keys, no local users), bound SAS lifetimes, "
    "admit trusted Azure services through a default-deny firewall, and in production keep deleted blobs.",
    control=A_8_12,
    severity=Severity.MEDIUM,
    remediation="allowSharedKeyAccess false, isLocalUserEnabled false, sasPolicy, networkRuleSet bypass AzureServices, "
    "BlobServiceProperties deleteRetentionPolicy enabled.",
    needs_stack=True,
    not_applicable={"aws": "S3 buckets are judged by the s3-* rules", "iaas": "documents are an NFS share"},
)
def azure_storage_hardening(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AZ_STORAGE:
        return None
    problems = []
    name = resource.get("accountName")
    if isinstance(name, str) and name != UNKNOWN and not re.fullmatch(r"[a-z0-9]{3,24}", name):
        problems.append(f"account name {name!r} is not 3-24 lowercase letters and digits")
    if resource.get("allowSharedKeyAccess") is not False:
        problems.append("shared key access allowed")
    if res.truthy(resource.get("isLocalUserEnabled")):
        problems.append("local users enabled")
    if "AzureServices" not in str(resource.get("networkRuleSet.bypass", "")):
        problems.append("trusted Azure services not admitted")
    if not resource.get("sasPolicy.sasExpirationPeriod"):
        problems.append("no SAS expiration policy")
    services = stack.referencing(resource, *res.AZ_BLOB_SERVICE, prop="accountName")
    if stack.context.production and not any(res.truthy(s.get("deleteRetentionPolicy.enabled")) for s in services):
        problems.append("no blob soft delete")
    return [(not problems, "; ".join(problems) or "Entra ID only, trusted services, soft delete")]


RULES = (
    s3_policy_no_lockout,
    s3_versioning,
    s3_acls_disabled,
    s3_lifecycle,
    s3_policy_no_public_allow,
    audit_logs_replicated,
    azure_storage_hardening,
)
