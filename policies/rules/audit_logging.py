"""Audit logging: a cloud audit trail for the account or subscription, and access logs on every data store."""

from __future__ import annotations

from collections.abc import Iterator

from opcloud.policies import azure_sql, iaas
from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_15,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    resource_rule,
    stack_rule,
    unevaluated,
)


def _trail_verdict(trail: ResourceView) -> Verdict:
    missing = [
        flag
        for flag, default in (
            ("enableLogging", True),
            ("isMultiRegionTrail", False),
            ("enableLogFileValidation", False),
        )
        if not res.truthy(trail.get(flag, default))
    ]
    if missing:
        return False, f"trail with {', '.join(missing)} off"
    return True, "multi-region trail with log file validation"


@stack_rule(
    name="audit-trail",
    description="The control plane is audited: a multi-region CloudTrail with log file validation, or Azure "
    "diagnostic settings sending audit logs to a Log Analytics workspace.",
    control=A_8_15,
    severity=Severity.HIGH,
    remediation="Declare the audit component (CloudTrail / Log Analytics + diagnostic settings).",
)
def audit_trail(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    cloud = stack.context.cloud
    if cloud == "aws":
        trails = stack.of_type(*res.CLOUDTRAIL)
        if not trails:
            yield None, False, "no CloudTrail trail"
        for trail in trails:
            yield (trail, *_trail_verdict(trail))
    elif cloud == "azure":
        workspaces = stack.of_type(*res.AZ_WORKSPACE)
        settings = [d for d in stack.of_type(*res.AZ_DIAGNOSTIC) if d.get("workspaceId")]
        if not workspaces or not settings:
            yield None, False, "no Log Analytics workspace receiving diagnostic settings"
        for workspace in workspaces:
            days = workspace.get("retentionInDays")
            yield workspace, True, f"Log Analytics workspace, retention {days or 'default'} days"
    elif cloud == "iaas":
        steps = [r for r in stack.resources if iaas.kind(r) is not None]
        hosts = {r.get("host") for r in steps}
        for host in sorted(str(h) for h in hosts if h):
            kinds = {iaas.kind(r) for r in steps if r.get("host") == host}
            ok = {"audit-rules", "log-shipping"} <= kinds
            audit = next((r for r in steps if r.get("host") == host and iaas.kind(r) == "audit-rules"), None)
            message = (
                "auditd rules, audit log shipped over TLS" if ok else f"host {host} lacks auditd rules or shipping"
            )
            yield audit, ok, message


def _diagnostic_verdict(resource: ResourceView, stack: StackView) -> Verdict:
    for setting in stack.referencing(resource, *res.AZ_DIAGNOSTIC, prop="resourceUri"):
        logs = [entry for entry in res.as_list(setting.get("logs")) if res.truthy((entry or {}).get("enabled"))]
        if logs and (setting.get("workspaceId") or setting.get("storageAccountId")):
            kinds = ", ".join(str(e.get("categoryGroup") or e.get("category")) for e in logs)
            return True, f"diagnostic setting {setting.name} ({kinds})"
    return False, "no diagnostic setting with enabled logs"


def _trail_logs_objects(trail: ResourceView, bucket: ResourceView, stack: StackView) -> bool:
    """Does the trail record S3 object-level (data) events for this bucket, in the bucket's region?"""
    if not res.truthy(trail.get("enableLogging", True)):
        return False
    if res.region_of(bucket, stack.context) != res.region_of(trail, stack.context) and not res.truthy(
        trail.get("isMultiRegionTrail")
    ):
        return False
    name = bucket.get("bucket")
    for selector in res.as_list(trail.get("eventSelectors")):
        for data in res.as_list((selector or {}).get("dataResources")):
            if (data or {}).get("type") != "AWS::S3::Object":
                continue
            for value in res.as_list(data.get("values")):
                value = str(value)
                if value in ("arn:aws:s3", "arn:aws:s3:::") or (name and value.startswith(f"arn:aws:s3:::{name}/")):
                    return True
    return False


@resource_rule(
    name="data-access-logging",
    description="Access to every data store is logged (S3 access logs, RDS PostgreSQL logs, Azure diagnostic "
    "settings).",
    control=A_8_15,
    severity=Severity.MEDIUM,
    remediation="Add BucketLogging to the access-log bucket; export 'postgresql' logs; add a diagnostic setting.",
    needs_stack=True,
)
def data_access_logging(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    t = resource.type
    if t in res.S3_BUCKET:
        loggings = stack.referencing(resource, *res.S3_LOGGING, prop="bucket")
        if not loggings and stack.referencing(resource, *res.S3_LOGGING, prop="targetBucket"):
            return [(True, "is the access-log target (logging into itself would loop)")]
        if loggings:
            return [(True, f"server access logs via {res.names(loggings)}")]
        trails = [t for t in stack.of_type(*res.CLOUDTRAIL) if _trail_logs_objects(t, resource, stack)]
        if trails:
            return [(True, f"object-level data events in CloudTrail {res.names(trails)}")]
        return [(False, "no server access logging and no CloudTrail S3 data events covering it")]
    if t in res.RDS_INSTANCE or t in res.RDS_CLUSTER:
        exports = res.as_list(resource.get("enabledCloudwatchLogsExports"))
        if "postgresql" in exports:
            return [(True, "PostgreSQL logs exported to CloudWatch")]
        return [(False, "enabledCloudwatchLogsExports lacks 'postgresql'")]
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        try:
            conf = iaas.database_settings(resource)
        except iaas.UnreadableConfig as error:
            return [unevaluated(str(error))]
        if conf.get("log_connections") == "on" and conf.get("log_disconnections") == "on":
            return [(True, "PostgreSQL logs every connection and disconnection (shipped with the host's logs)")]
        return [(False, "log_connections / log_disconnections are not on")]
    if t in res.AZ_SQL:
        return [azure_sql.audited(stack, resource)]
    if t in res.AZ_SQL_DB:  # audited by its server's policy
        server = azure_sql.server_of(stack, resource)
        return [azure_sql.audited(stack, server) if server else (False, "its server is not in the stack")]
    if t in res.AZ_PG or t in res.AZ_KEY_VAULT or t in res.AZ_STORAGE:
        verdict = _diagnostic_verdict(resource, stack)
        if not verdict[0] and t in res.AZ_STORAGE:
            # Blob access is logged on the account's blob service ("<account id>/blobServices/default").
            for setting in stack.of_type(*res.AZ_DIAGNOSTIC):
                uri = str(setting.get("resourceUri", ""))
                if "/blobServices/" in uri and resource in stack.resolve(uri):
                    return [(True, f"blob service diagnostic setting {setting.name}")]
        return [verdict]
    return None


RULES = (audit_trail, data_access_logging)
