"""Encryption in transit: TLS-only buckets, TLS 1.2 or newer, PostgreSQL requiring SSL, no plain listeners."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from opcloud.policies import azure_sql, iaas, iaas_listeners
from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_24,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
    stack_rule,
    unevaluated,
)
from opcloud.policies.rules.public_access import azure_ingress  # one reading of NSG rules

# ELB policies that refuse anything below TLS 1.2.
AWS_TLS12_POLICY_PREFIXES = (
    "ELBSecurityPolicy-TLS13-1-2",
    "ELBSecurityPolicy-TLS13-1-3",
    "ELBSecurityPolicy-TLS-1-2",
    "ELBSecurityPolicy-FS-1-2",
)
AZURE_TLS_OK = ("TLS1_2", "TLS1_3")
AZURE_APPGW_TLS_OK = ("TLSv1_2", "TLSv1_3")
AZURE_APPGW_PREDEFINED_OK = ("AppGwSslPolicy20170401S", "AppGwSslPolicy20220101", "AppGwSslPolicy20220101S")


def _denies_insecure_transport(statement: Any) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False
    condition = statement.get("Condition") or {}
    secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
    return str(secure).lower() == "false"


@resource_rule(
    name="tls-only-bucket-policy",
    description="Every S3 bucket's policy denies requests not made over TLS (aws:SecureTransport).",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Attach a bucket policy with a Deny on aws:SecureTransport=false (components.aws.bucket does).",
    needs_stack=True,
    not_applicable={
        "azure": "Azure storage has no bucket policies: HTTPS-only and the TLS floor are checked by "
        "tls-minimum-version",
        "iaas": "a VM-only cloud has no object store: documents are on NFS with Kerberos privacy "
        "(iaas-storage-protocols)",
    },
)
def tls_only_bucket_policy(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.S3_BUCKET:
        return None
    for policy in stack.referencing(resource, *res.S3_POLICY, prop="bucket"):
        if policy.get("policy") == res.UNKNOWN:
            return [pending(f"bucket policy {policy.name}'s document (it names the bucket's ARN)")]
        document = res.parse_json(policy.get("policy"))
        statements = res.as_list((document or {}).get("Statement")) if isinstance(document, dict) else []
        if any(_denies_insecure_transport(s) for s in statements):
            return [(True, f"bucket policy {policy.name} denies aws:SecureTransport=false")]
    return [(False, "no bucket policy denying requests without TLS (aws:SecureTransport=false)")]


@resource_rule(
    name="tls-minimum-version",
    description="Endpoints accept TLS 1.2 or newer only.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Set minimumTlsVersion TLS1_2 (Azure storage), a TLS 1.2+ ELB security policy, an Application "
    "Gateway SSL policy with minProtocolVersion TLSv1_2, ssl_min_protocol_version TLSv1.2 (PostgreSQL).",
    needs_stack=True,
)
def tls_minimum_version(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    t = resource.type
    if t in res.AZ_STORAGE:
        version = resource.get("minimumTlsVersion")
        if version not in AZURE_TLS_OK:
            return [(False, f"minimumTlsVersion is {version or 'unset'}, not TLS1_2 or newer")]
        if resource.get("enableHttpsTrafficOnly") is False:
            return [(False, "enableHttpsTrafficOnly is false")]
        return [(True, f"minimumTlsVersion {version}, HTTPS only")]
    if t in res.LB_LISTENER and resource.get("protocol") in ("HTTPS", "TLS"):
        policy = resource.get("sslPolicy")
        if isinstance(policy, str) and policy.startswith(AWS_TLS12_POLICY_PREFIXES):
            return [(True, f"ssl policy {policy}")]
        return [(False, f"ssl policy {policy or 'default (allows TLS 1.0)'} accepts TLS below 1.2")]
    if t in res.AZ_APP_GATEWAY:
        policy = resource.get("sslPolicy") or {}
        if policy.get("minProtocolVersion") in AZURE_APPGW_TLS_OK:
            return [(True, f"sslPolicy minProtocolVersion {policy['minProtocolVersion']}")]
        if policy.get("policyName") in AZURE_APPGW_PREDEFINED_OK:
            return [(True, f"predefined sslPolicy {policy['policyName']}")]
        return [(False, "Application Gateway sslPolicy does not require TLS 1.2 or newer")]
    if iaas.kind(resource) == "load-balancer":
        return [iaas_listeners.haproxy_tls_version(resource)]
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        try:
            return [_pg_tls_version(iaas.database_settings(resource))]
        except iaas.UnreadableConfig as error:
            return [unevaluated(str(error))]
    if t in res.AZ_PG:
        return [_pg_tls_version(_pg_configs(resource, stack))]
    if t in res.AZ_SQL:
        return [azure_sql.tls_minimum(resource)]
    return None


def _iaas_pg_tls(settings: Mapping[str, str], hba: str) -> Verdict:
    """ssl on, and pg_hba admits the network only over TLS and with SCRAM (or a client certificate)."""
    if settings.get("ssl") != "on":
        return False, f"ssl is {settings.get('ssl', 'unset')}, not on"
    if plain := iaas.pg_hba_plain_lines(hba):
        return False, f"pg_hba accepts connections without TLS: {plain[0]}"
    if weak := iaas.pg_hba_weak_lines(hba):
        return False, f"pg_hba admits a client without SCRAM: {weak[0]}"
    # Which networks may connect is the allow-list's business (no-world-open-data-ports on the host firewall).
    return True, "ssl on; pg_hba: hostssl with SCRAM only, everything else rejected"


def _pg_tls_version(settings: Mapping[str, str]) -> Verdict:
    version = settings.get("ssl_min_protocol_version", "TLSv1.2")  # PostgreSQL's and the service's default
    return version in ("TLSv1.2", "TLSv1.3"), f"ssl_min_protocol_version {version}"


def _pg_configs(server: ResourceView, stack: StackView) -> dict[str, str]:
    """Server parameters set by Configuration resources on this server."""
    configs: dict[str, str] = {}
    for config in stack.referencing(server, *res.AZ_PG_CONFIG, prop="serverName"):
        configs[str(config.get("configurationName") or config.name)] = str(config.get("value", ""))
    return configs


def _rds_parameters(instance: ResourceView, stack: StackView) -> dict[str, str] | None:
    groups = stack.resolve(instance.get("parameterGroupName"))
    if not groups:
        return None
    return {
        str(p.get("name")): str(p.get("value")) for p in res.as_list(groups[0].get("parameters")) if isinstance(p, dict)
    }


@resource_rule(
    name="postgres-ssl-required",
    description="PostgreSQL servers refuse connections without TLS.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="rds.force_ssl=1 in the RDS parameter group; require_secure_transport=on on Azure; "
    "hostssl-only pg_hba and ssl=on on IaaS hosts.",
    needs_stack=True,
    not_applicable={"program:test-stand": "the test stand runs no database"},
)
def postgres_ssl_required(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.RDS_INSTANCE and str(resource.get("engine", "postgres")).startswith("postgres"):
        parameters = _rds_parameters(resource, stack)
        if parameters is None:
            return [(False, "no parameter group of this stack: rds.force_ssl cannot be shown to be 1")]
        if parameters.get("rds.force_ssl") == "1":
            return [(True, "rds.force_ssl=1 in the parameter group")]
        return [(False, f"rds.force_ssl is {parameters.get('rds.force_ssl', 'unset')}, not 1")]
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        try:
            return [_iaas_pg_tls(iaas.database_settings(resource), iaas.database_hba(resource))]
        except iaas.UnreadableConfig as error:
            return [unevaluated(str(error))]
    if resource.type in res.AZ_PG:
        value = _pg_configs(resource, stack).get("require_secure_transport", "on")  # service default: on
        if value.lower() == "on":
            return [(True, f"require_secure_transport {value}")]
        return [(False, f"require_secure_transport is {value}")]
    if resource.type in res.AZ_SQL:  # the service has no plaintext mode; the version: tls-minimum-version
        return [(True, "Azure SQL refuses unencrypted connections (TLS is always on, not a setting)")]
    return None


@resource_rule(
    name="no-plaintext-listeners",
    description="Load balancers listen on plain HTTP only to redirect to HTTPS.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Make the HTTP listener's default action a redirect to HTTPS (status 301); IaaS releases start "
    "with --tls-cert/--tls-key, HAProxy binds with `ssl crt`, Patroni's REST API has a certfile; the test "
    "stand's NSG admits no plain HTTP port.",
)
def no_plaintext_listeners(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if iaas.kind(resource) == "release":
        return [iaas_listeners.release_listener(resource)]
    if iaas.kind(resource) == "load-balancer":
        return iaas_listeners.haproxy_listeners(resource)
    if iaas.kind(resource) == "patroni":
        return [iaas_listeners.patroni_rest_api(resource)]
    if iaas.kind(resource) == "app-unit":
        units = [text for path, text in iaas.files(resource).items() if path.endswith(".service")]
        starts = [line for text in units for line in text.splitlines() if line.startswith("ExecStart=")]
        if starts and all("--tls-cert" in line for line in starts):
            return [(True, "the service listens with TLS only (--tls-cert)")]
        return [(False, "a service unit starts without --tls-cert: it would serve plain HTTP")]
    if stack.context.program == "test-stand" and resource.type in (*res.AZ_NSG, *res.AZ_NSG_RULE):
        plain = [
            port for port in PLAIN_HTTP_PORTS for sources, ports in azure_ingress(resource) if sources and port in ports
        ]
        if plain:
            return [(False, f"the NSG admits plain HTTP on port {', '.join(map(str, sorted(set(plain))))}")]
        return [(True, "the NSG admits no plain HTTP port: Jenkins is reached over HTTPS only")]
    if resource.type in res.LB_LISTENER:
        if resource.get("protocol") in ("HTTPS", "TLS"):
            return [(True, f"{resource.get('protocol')} listener on port {resource.get('port')}")]
        actions = res.as_list(resource.get("defaultActions"))
        redirects = [a for a in actions if (a or {}).get("type") == "redirect"]
        if redirects and all(((a or {}).get("redirect") or {}).get("protocol") == "HTTPS" for a in redirects):
            return [(True, f"plain listener on port {resource.get('port')} only redirects to HTTPS")]
        return [(False, f"plain {resource.get('protocol') or 'HTTP'} listener on port {resource.get('port')} serves")]
    if resource.type in res.AZ_APP_GATEWAY:
        plain = [
            listener
            for listener in res.as_list(resource.get("httpListeners"))
            if str((listener or {}).get("protocol", "")).lower() == "http"
        ]
        if not plain:
            return [(True, "HTTPS listeners only")]
        if res.as_list(resource.get("redirectConfigurations")):
            return [(True, "HTTP listener redirects to HTTPS")]
        return [(False, "HTTP listener without a redirect to HTTPS")]
    return None


@resource_rule(
    name="iaas-storage-protocols",
    description="IaaS storage is reached securely: every NFS mount uses Kerberos privacy (sec=krb5p; krb5i only "
    "where the environment documents why), every iSCSI volume authenticates with CHAP.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Set sec krb5p on the share (or krb5i with secReason); give every iSCSI volume chap credentials.",
    not_applicable={
        "aws": "AWS has no NFS or iSCSI storage in this platform: EBS/S3 are covered by the encryption rules",
        "azure": "Azure has no NFS or iSCSI storage in this platform: disks and storage accounts are covered by "
        "the encryption rules",
        "program:test-stand": "the test stand mounts no NFS share and attaches no iSCSI volume",
    },
)
def iaas_storage_protocols(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if iaas.kind(resource) == "nfs-mount":
        sec = iaas.spec_value(resource, "sec")
        share = iaas.spec_value(resource, "share")
        if sec == "krb5p":
            return [(True, f"NFS share {share}: sec=krb5p (Kerberos privacy)")]
        if sec == "krb5i" and share in stack.context.nfs_integrity_only:
            return [(True, f"NFS share {share}: sec=krb5i, integrity only, documented in the environment")]
        return [(False, f"NFS share {share}: sec={sec or 'sys'} sends data without Kerberos privacy")]
    if iaas.kind(resource) == "iscsi-attach":
        user, password = iaas.spec_value(resource, "chap_username"), iaas.spec_value(resource, "chap_password")
        if user and password:
            volume = iaas.spec_value(resource, "volume")
            target = iaas.spec_value(resource, "chap_target_username")
            if target and iaas.spec_value(resource, "chap_target_password"):
                return [(True, f"iSCSI volume {volume}: mutual CHAP as {user}, target answers as {target}")]
            return [(True, f"iSCSI volume {volume}: CHAP as {user} (one-way)")]
        return [(False, f"iSCSI volume {iaas.spec_value(resource, 'volume')}: attached without CHAP")]
    return None


PLAIN_HTTP_PORTS = (80, 8080)


@stack_rule(
    name="cluster-traffic-encrypted",
    description="The Patroni cluster's etcd members talk to each other and to Patroni over TLS.",
    control=A_8_24,
    severity=Severity.MEDIUM,
    remediation="Give etcd https:// peer and client URLs with a cluster CA (ETCD_CERT_FILE, ETCD_PEER_CERT_FILE, "
    "client-cert-auth) and Patroni's etcd3 section protocol: https with that CA.",
    not_applicable={
        "aws": "RDS Multi-AZ replicates inside the service",
        "azure": "Flexible Server replicates inside the service",
        "program:test-stand": "the test stand runs no database",
    },
)
def cluster_traffic_encrypted(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    members = [s for s in iaas.steps(stack) if iaas.kind(s) == "etcd"]
    for member in members:
        ok, message = iaas_listeners.etcd_tls(member)
        yield member, ok, message
    if not members:
        patroni = [s for s in iaas.steps(stack) if iaas.kind(s) == "patroni"]
        if patroni:
            yield None, None, "Patroni members but no etcd step: where their cluster store runs cannot be judged"
        elif iaas.steps(stack):
            yield None, True, "no Patroni cluster (a single PostgreSQL server): no cluster traffic"


RULES = (
    tls_only_bucket_policy,
    tls_minimum_version,
    postgres_ssl_required,
    no_plaintext_listeners,
    iaas_storage_protocols,
    cluster_traffic_encrypted,
)
