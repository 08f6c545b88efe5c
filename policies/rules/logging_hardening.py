"""Logging beyond the audit trail: network flow logs, how long logs are kept, the trail's live copy."""

from __future__ import annotations

from opcloud.policies import resources as res
from opcloud.policies.model import A_8_15, ResourceView, Severity, StackView, Verdict, resource_rule
from opcloud.policies.rules import links

LOG_RETENTION_DAYS = 365  # a year of logs: the yearly internal audit reads them
FLOW_LOG_RETENTION_DAYS = 90


def _flow_log_retention(flow_log: ResourceView) -> Verdict:
    policy = flow_log.get("retentionPolicy") or {}
    days = res.number(policy.get("days"))
    if res.truthy(policy.get("enabled")) and days is not None and 0 < days < FLOW_LOG_RETENTION_DAYS:
        return False, f"flow log {flow_log.name} keeps {res.days(days)} days, fewer than {FLOW_LOG_RETENTION_DAYS}"
    return True, f"flow log {flow_log.name}, retention {res.days(days) if days else 'unlimited'} days"


@resource_rule(
    name="flow-logs",
    description="Every platform network records its flows: a VPC flow log of all traffic, an Azure VNet flow log "
    f"kept at least {FLOW_LOG_RETENTION_DAYS} days.",
    control=A_8_15,
    severity=Severity.MEDIUM,
    remediation="Wire the audit component's flow logs to the network (record_flow_logs / AzureFlowLogs).",
    needs_stack=True,
    not_applicable={
        "iaas": "IaaS hosts log their own connections (nftables + shipped logs)",
        "program:test-stand": "the test stand is short-lived and holds no platform data",
    },
)
def flow_logs(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if stack.context.program != "platform":
        return None
    if resource.type in res.VPC:
        logs = links.by_name(stack.referencing(resource, *res.FLOW_LOG, prop="vpcId"))
        if not logs:
            return [(False, "no flow log on the VPC")]
        partial = [f.name for f in logs if f.get("trafficType") != "ALL"]
        if partial:
            return [(False, f"flow log {', '.join(partial)} does not record ALL traffic")]
        return [(True, f"flow log {res.names(logs)} records all traffic")]
    if resource.type in res.AZ_VNET:
        logs = [
            f
            for f in links.by_name(stack.referencing(resource, *res.AZ_FLOW_LOG, prop="targetResourceId"))
            if f.get("enabled") is not False
        ]
        if not logs:
            return [(False, "no enabled flow log on the VNet")]
        return [_flow_log_retention(f) for f in logs]
    return None


@resource_rule(
    name="log-retention",
    description=f"Production logs are kept at least {LOG_RETENTION_DAYS} days, with the retention stated "
    "(CloudWatch log groups, Log Analytics workspaces, flow logs).",
    control=A_8_15,
    severity=Severity.MEDIUM,
    remediation=f"Set retentionInDays >= {LOG_RETENTION_DAYS} (CloudWatch: 365, 400, 545, 731...).",
    not_applicable={
        "iaas": "IaaS logs are shipped to the site's log store",
        "non-production": "only production logs must be kept a year",
    },
)
def log_retention(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if not stack.context.production:
        return None
    if resource.type in res.LOG_GROUP or resource.type in res.AZ_WORKSPACE:
        days = res.number(resource.get("retentionInDays"))
        if days is None:
            where = "never expires" if resource.type in res.LOG_GROUP else "uses the 30-day default"
            return [(False, f"retentionInDays not stated ({where})")]
        if days < LOG_RETENTION_DAYS:
            return [(False, f"kept {res.days(days)} days, fewer than {LOG_RETENTION_DAYS}")]
        return [(True, f"kept {res.days(days)} days")]
    if resource.type in res.AZ_FLOW_LOG:
        return [_flow_log_retention(resource)]
    return None


@resource_rule(
    name="trail-to-cloudwatch",
    description="CloudTrail also delivers to CloudWatch Logs, where alarms can watch it as it happens.",
    control=A_8_15,
    severity=Severity.LOW,
    remediation="Set cloudWatchLogsGroupArn and cloudWatchLogsRoleArn on the trail.",
    not_applicable={
        "azure": "the activity log goes straight to Log Analytics (audit-trail)",
        "iaas": "no cloud trail on a VM-only cloud",
        "program:test-stand": "the test stand keeps no CloudTrail",
    },
)
def trail_to_cloudwatch(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.CLOUDTRAIL:
        return None
    if resource.get("cloudWatchLogsGroupArn") and resource.get("cloudWatchLogsRoleArn"):
        return [(True, "delivered to CloudWatch Logs")]
    return [(False, "no CloudWatch Logs group (or role) on the trail")]


RULES = (flow_logs, log_retention, trail_to_cloudwatch)
