"""No public data stores: public access blocked, no public address on databases, no world-open data ports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from opcloud.policies import azure_sql, iaas, iaas_listeners
from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_12,
    A_8_20,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    resource_rule,
    unevaluated,
)

from opcloud import allowlists

BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@resource_rule(
    name="public-access-blocked",
    description="Object stores refuse public access (S3 public access block; no public blobs on Azure).",
    control=A_8_12,
    severity=Severity.CRITICAL,
    remediation="Add a public access block with all four flags true; on Azure set allowBlobPublicAccess false and "
    "publicNetworkAccess Disabled or a network rule set denying by default.",
    needs_stack=True,
)
def public_access_blocked(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.S3_BUCKET:
        for block in stack.referencing(resource, *res.S3_PUBLIC_ACCESS_BLOCK, prop="bucket"):
            missing = [flag for flag in BLOCK_FLAGS if not res.truthy(block.get(flag))]
            if not missing:
                return [(True, f"public access block {block.name}: all four flags on")]
            return [(False, f"public access block {block.name} leaves {', '.join(missing)} off")]
        return [(False, "no public access block")]
    if resource.type in res.AZ_STORAGE:
        if resource.get("allowBlobPublicAccess") is not False:
            return [(False, "allowBlobPublicAccess is not false")]
        network_closed = resource.get("publicNetworkAccess") == "Disabled" or (
            resource.get("networkRuleSet.defaultAction") == "Deny"
        )
        if not network_closed:
            return [(False, "reachable from any network: publicNetworkAccess not Disabled, no default-deny rules")]
        return [(True, "no public blobs, network access closed by default")]
    if iaas.kind(resource) == "nfs-mount":
        server = iaas.storage_address(resource)
        if server is None or server == res.UNKNOWN:
            return [unevaluated("the NFS server's address is not known")]
        if allowlists.public_addresses([server]):
            return [(False, f"the NFS share is served on the public address {server}")]
        return [(True, f"NFS share served on the private address {server}, reached only from the site network")]
    return None


@resource_rule(
    name="database-not-public",
    description="Databases have no public address.",
    control=A_8_20,
    severity=Severity.CRITICAL,
    remediation="RDS publiclyAccessible false in private subnets; Azure PostgreSQL network.publicNetworkAccess "
    "Disabled (VNet integration or private endpoint); IaaS: a private host admitting only private networks.",
    not_applicable={"program:test-stand": "the test stand runs no database"},
)
def database_not_public(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.RDS_INSTANCE:
        if res.truthy(resource.get("publiclyAccessible")):
            return [(False, "publiclyAccessible is true")]
        return [(True, "not publicly accessible")]
    if resource.type in res.AZ_PG:
        if resource.get("network.publicNetworkAccess") != "Disabled":
            return [(False, f"network.publicNetworkAccess is {resource.get('network.publicNetworkAccess', 'unset')}")]
        return [(True, "public network access disabled")]
    if resource.type in res.AZ_SQL:
        return [azure_sql.not_public(resource)]
    if resource.type in res.AZ_PG_FIREWALL or resource.type in res.AZ_SQL_FIREWALL:
        start, end = resource.get("startIpAddress"), resource.get("endIpAddress")
        if start == "0.0.0.0":
            return [(False, f"firewall rule {start}-{end} admits the whole internet or every Azure tenant")]
        return [(True, f"firewall rule limited to {start}-{end}")]
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        return [_iaas_database_private(resource, stack)]
    if iaas.kind(resource) == "etcd":
        return [iaas_listeners.etcd_private(resource), iaas_listeners.etcd_firewall(stack, resource)]
    return None


def _iaas_database_private(step: ResourceView, stack: StackView) -> Verdict:
    """A self-managed PostgreSQL: a private host listening on private addresses only (who may connect is
    judged by no-world-open-data-ports on the host firewall)."""
    address = iaas.host_address(step)
    if address is None:
        return unevaluated("the database host's address is not known")
    if allowlists.public_addresses([address]):
        return False, f"the database host has the public address {address}"
    try:
        settings = iaas.database_settings(step)
    except iaas.UnreadableConfig as error:
        return unevaluated(str(error))
    listen = [a.strip() for a in settings.get("listen_addresses", "").split(",")]
    wild = [a for a in listen if a in ("*", "0.0.0.0", "::")]
    if wild:
        return False, f"PostgreSQL listens on every interface (listen_addresses {', '.join(wild)})"
    public = [a for a in listen if a and a != "localhost" and allowlists.public_addresses([a]) != 0]
    if public:
        return False, f"PostgreSQL listens on {', '.join(public)}, not a private address"
    return True, f"private host {address}; PostgreSQL listens on {', '.join(a for a in listen if a)} only"


Ingress = tuple[list[str], list[range]]  # (sources, port ranges) of one allow rule
EVERY_PORT = range(0, 65536)
# Azure service tags that are not the Internet: the virtual network, the platform's health probes, and the
# Application Gateway control plane (the only source Azure lets reach its management ports 65200-65535).
PRIVATE_TAGS = ("VirtualNetwork", "AzureLoadBalancer", "GatewayManager")


def _port_range(low: Any, high: Any) -> range | None:
    try:
        low_i, high_i = int(low), int(high)
    except (TypeError, ValueError):
        return None
    if low_i == -1 or high_i == -1:  # protocol "-1": every port
        return EVERY_PORT
    return range(low_i, high_i + 1)


def _ranges(*candidates: range | None) -> list[range]:
    return [r for r in candidates if r is not None]


def _aws_ingress(resource: ResourceView) -> Iterator[Ingress]:
    """(sources, ports) of every ingress a security group resource admits."""
    if resource.type in res.SECURITY_GROUP:
        for rule in res.as_list(resource.get("ingress")):
            rule = rule or {}
            sources = [*res.as_list(rule.get("cidrBlocks")), *res.as_list(rule.get("ipv6CidrBlocks"))]
            every = rule.get("protocol") in ("-1", "all")
            yield sources, [EVERY_PORT] if every else _ranges(_port_range(rule.get("fromPort"), rule.get("toPort")))
    elif resource.type in res.SG_INGRESS_RULE:
        sources = [s for s in (resource.get("cidrIpv4"), resource.get("cidrIpv6")) if s]
        every = resource.get("ipProtocol") in ("-1", "all")
        ports = _port_range(resource.get("fromPort"), resource.get("toPort"))
        yield sources, [EVERY_PORT] if every else _ranges(ports)
    elif resource.type in res.SG_RULE and resource.get("type") == "ingress":
        sources = [*res.as_list(resource.get("cidrBlocks")), *res.as_list(resource.get("ipv6CidrBlocks"))]
        every = resource.get("protocol") in ("-1", "all")
        ports = _port_range(resource.get("fromPort"), resource.get("toPort"))
        yield sources, [EVERY_PORT] if every else _ranges(ports)


def _azure_ports(rule: dict[str, Any]) -> list[range]:
    specs = [*res.as_list(rule.get("destinationPortRange")), *res.as_list(rule.get("destinationPortRanges"))]
    ranges: list[range] = []
    for spec in specs:
        spec = str(spec)
        if spec == "*":
            return [EVERY_PORT]
        low, _, high = spec.partition("-")
        ranges += _ranges(_port_range(low, high or low))
    return ranges


def azure_ingress(resource: ResourceView) -> Iterator[tuple[list[str], range]]:
    """(sources, ports) of each inbound allow rule of an NSG or security rule (one range per port spec)."""
    for sources, ranges in _azure_allow(resource):
        for ports in ranges:
            yield sources, ports


def _azure_allow(resource: ResourceView) -> Iterator[Ingress]:
    rules = res.as_list(resource.get("securityRules")) if resource.type in res.AZ_NSG else [resource.props]
    for rule in rules:
        rule = (rule or {}).get("properties", rule) or {}
        if str(rule.get("direction", "")).lower() != "inbound" or str(rule.get("access", "")).lower() != "allow":
            continue
        sources = [*res.as_list(rule.get("sourceAddressPrefix")), *res.as_list(rule.get("sourceAddressPrefixes"))]
        yield [str(s) for s in sources if str(s) not in PRIVATE_TAGS], _azure_ports(rule)


def _nftables_ingress(step: ResourceView) -> Iterator[Ingress]:
    """The host firewall step: SSH from the admin list, each service port from its allow-list."""
    yield [str(c) for c in res.as_list(iaas.spec_value(step, "admin"))], [range(22, 23)]
    for service in res.as_list(iaas.spec_value(step, "services")):
        if isinstance(service, list) and len(service) == 2:
            port = res.number(service[0])
            ports = [range(int(port), int(port) + 1)] if port is not None else []
            yield [str(c) for c in res.as_list(service[1])], ports


def _ports_of_interest(ingress: list[Ingress]) -> list[int]:
    """Every admin and data port, and the first port of each rule (the web entry)."""
    ports = set(allowlists.ADMIN_PORTS) | set(allowlists.DATA_PORTS)
    ports |= {r.start for _, ranges in ingress for r in ranges if r != EVERY_PORT}
    return sorted(ports)


def judge_ingress(ingress: list[Ingress], limits: Mapping[str, int]) -> list[Verdict]:
    """Per port, the public space all rules together admit, against the limit of the port's class."""
    bad: list[str] = []
    unknown: list[str] = [
        f"a rule admitting {sources} has ports that cannot be read"
        for sources, ranges in ingress
        if sources and not ranges
    ]
    opened: list[str] = []
    for port in _ports_of_interest(ingress):
        sources = [s for srcs, ranges in ingress if any(port in r for r in ranges) for s in srcs]
        if not sources:
            continue
        if any(s == res.UNKNOWN for s in sources):
            unknown.append(f"port {port}: a source is computed by the provider")
            continue
        count = allowlists.public_addresses(sources)
        cls = allowlists.port_class(port)
        if count is None:
            unknown.append(f"port {port}: a source is neither a network nor a known private tag ({sources})")
            continue
        limit = limits.get(cls, allowlists.DEFAULT_LIMITS[cls])
        if count > limit:
            bad.append(
                f"{allowlists.describe(count)} may reach {port} ({allowlists.service(port)}), "
                f"above the {cls} limit of {limit}"
            )
        elif count:
            opened.append(f"{port}: {count}")
    if bad:
        return [(False, "; ".join(bad))]
    if unknown:
        return [unevaluated("; ".join(unknown))]
    detail = f" (public addresses per port: {', '.join(opened)})" if opened else ""
    return [(True, f"every port within its public address limit{detail}")]


@resource_rule(
    name="no-world-open-data-ports",
    description="No firewall admits more public address space on a port than the environment's limit for the "
    "port's class (admin, data, web); all of a port's rules are counted together.",
    control=A_8_20,
    severity=Severity.CRITICAL,
    remediation="Limit the rule to the allow-list (network.adminCidrs, the app tier's security group), or raise "
    "network.publicAddressLimits within its ceiling where a wider list is justified.",
)
def no_world_open_data_ports(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in (*res.SECURITY_GROUP, *res.SG_INGRESS_RULE, *res.SG_RULE):
        ingress = list(_aws_ingress(resource))
    elif resource.type in (*res.AZ_NSG, *res.AZ_NSG_RULE):
        ingress = list(_azure_allow(resource))
    elif iaas.kind(resource) == "firewall":
        ingress = list(_nftables_ingress(resource))
    else:
        return None
    return judge_ingress(ingress, stack.context.allow_limits)


RULES = (public_access_blocked, database_not_public, no_world_open_data_ports)
