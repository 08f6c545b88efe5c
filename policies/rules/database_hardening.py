"""Database hardening beyond encryption and privacy: RDS PostgreSQL settings an auditor looks for."""

from __future__ import annotations

from collections.abc import Mapping

from opcloud.policies import resources as res
from opcloud.policies.model import A_5_23, A_8_15, A_8_24, ResourceView, Severity, StackView, Verdict, resource_rule
from opcloud.policies.rules import links

# PostgreSQL minor versions fixed for the log_fdw flaw (AWS-2022-004), by major; 14 and later never had it.
LOG_FDW_FIXED = {13: 3, 12: 7, 11: 12, 10: 17}


def _log_fdw_vulnerable(version: str) -> bool:
    parts = version.split(".")
    if not parts[0].isdigit():
        return False  # a version family the provider resolves: checked by the engine at deployment
    major = int(parts[0])
    if major >= 14:
        return False
    minor = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return minor < LOG_FDW_FIXED.get(major, 10**6)


# RDS certificate authorities that are not being retired.
MODERN_CAS = ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")


@resource_rule(
    name="rds-hardening",
    description="RDS instances log in with IAM, take minor upgrades on an engine without the log_fdw flaw, use a "
    "current certificate authority, copy tags to snapshots, send enhanced monitoring, and run Multi-AZ in "
    "production.",
    control=A_5_23,
    severity=Severity.MEDIUM,
    remediation="iamDatabaseAuthenticationEnabled, autoMinorVersionUpgrade, caCertIdentifier rds-ca-rsa2048-g1, "
    "copyTagsToSnapshot true, monitoringInterval with monitoringRoleArn, PostgreSQL 14+; multiAz in production.",
    not_applicable={
        "azure": "Azure PostgreSQL is judged by database-not-public, postgres-ssl-required and the backup rules",
        "iaas": "self-managed PostgreSQL is configured by the host steps",
        "program:test-stand": "the test stand runs no database",
    },
)
def rds_hardening(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.RDS_INSTANCE:
        return None
    problems = []
    if not res.truthy(resource.get("iamDatabaseAuthenticationEnabled")):
        problems.append("IAM authentication off")
    if resource.get("autoMinorVersionUpgrade") is False:
        problems.append("minor upgrades off")
    if resource.get("caCertIdentifier") not in MODERN_CAS:
        problems.append(f"certificate authority {resource.get('caCertIdentifier', 'default')}")
    if not res.truthy(resource.get("copyTagsToSnapshot")):
        problems.append("tags not copied to snapshots")
    if stack.context.production and not res.truthy(resource.get("multiAz")):
        problems.append("not Multi-AZ")
    interval = res.number(resource.get("monitoringInterval"))
    if not interval or not resource.get("monitoringRoleArn"):
        problems.append("enhanced monitoring off")
    if str(resource.get("engine", "")).startswith("postgres") and _log_fdw_vulnerable(
        str(resource.get("engineVersion"))
    ):
        problems.append(f"engine {resource.get('engineVersion')} has the log_fdw flaw (AWS-2022-004)")
    return [(not problems, "; ".join(problems) or "IAM auth, minor upgrades, current CA, tags on snapshots, Multi-AZ")]


@resource_rule(
    name="rds-performance-insights-cmk",
    description="Performance Insights (which holds query text) is on and encrypted with the stack's key.",
    control=A_8_24,
    severity=Severity.MEDIUM,
    remediation="performanceInsightsEnabled true with performanceInsightsKmsKeyId.",
    not_applicable={
        "azure": "no Performance Insights on Azure",
        "iaas": "self-managed PostgreSQL",
        "program:test-stand": "the test stand runs no database",
    },
)
def rds_performance_insights_cmk(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.RDS_INSTANCE:
        return None
    if not res.truthy(resource.get("performanceInsightsEnabled")):
        return [(False, "Performance Insights off")]
    if not resource.get("performanceInsightsKmsKeyId"):
        return [(False, "Performance Insights without a customer-managed key")]
    return [(True, "Performance Insights under the stack's key")]


@resource_rule(
    name="backup-copies-cmk",
    description="Replicated RDS backups in the copy region are encrypted with a customer-managed key there.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Set kmsKeyId (the copy region's key) on the automated backups replication.",
    needs_stack=True,
    not_applicable={
        "azure": "Azure geo backups are encrypted with the geo key (encryption-at-rest-cmk)",
        "iaas": "pgBackRest copies are judged by the IaaS rules",
        "program:test-stand": "the test stand runs no database",
    },
)
def backup_copies_cmk(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.RDS_INSTANCE:
        if stack.referencing(resource, *res.RDS_BACKUP_REPLICATION, prop="sourceDbInstanceArn"):
            return None  # judged on the replication itself
        return [(True, "its backups are not copied to another region (backup-geo-copy judges whether they must be)")]
    if resource.type not in res.RDS_BACKUP_REPLICATION:
        return None
    if resource.get("kmsKeyId"):
        return [(True, "encrypted with the copy region's key")]
    return [(False, "no kmsKeyId: the copy would be encrypted with an AWS-managed key")]


@resource_rule(
    name="postgres-query-logging",
    description="PostgreSQL logs schema changes and slow statements (RDS parameter group: log_statement, "
    "log_min_duration_statement).",
    control=A_8_15,
    severity=Severity.MEDIUM,
    remediation="Set log_statement ddl (or mod/all) and log_min_duration_statement in the parameter group.",
    needs_stack=True,
    not_applicable={
        "azure": "Azure PostgreSQL logs through pgaudit (data-access-logging)",
        "iaas": "self-managed PostgreSQL is configured by the host steps",
        "program:test-stand": "the test stand runs no database",
    },
)
def postgres_query_logging(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.RDS_INSTANCE or not str(resource.get("engine", "")).startswith("postgres"):
        return None
    groups = links.pointed_at(stack, resource, "parameterGroupName", *res.RDS_PARAMETER_GROUP)
    values = {
        str(p.get("name")): str(p.get("value"))
        for g in groups
        for p in res.as_list(g.get("parameters"))
        if isinstance(p, Mapping)
    }
    problems = []
    if values.get("log_statement") not in ("ddl", "mod", "all"):
        problems.append("log_statement not ddl/mod/all")
    if values.get("log_min_duration_statement") in (None, "-1"):
        problems.append("slow statements not logged")
    return [(not problems, "; ".join(problems) or "DDL and slow statements logged")]


RULES = (rds_hardening, rds_performance_insights_cmk, backup_copies_cmk, postgres_query_logging)
