"""No public data stores: public access blocked, no public address on databases, no world-open data ports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from policies import iaas
from policies import resources as res
from policies.model import A_8_12, A_8_20, ResourceView, Severity, StackView, Verdict, resource_rule

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
    return None


@resource_rule(
    name="database-not-public",
    description="Databases have no public address.",
    control=A_8_20,
    severity=Severity.CRITICAL,
    remediation="RDS publiclyAccessible false in private subnets; Azure PostgreSQL network.publicNetworkAccess "
    "Disabled (VNet integration or private endpoint).",
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
    if resource.type in res.AZ_PG_FIREWALL:
        start, end = resource.get("startIpAddress"), resource.get("endIpAddress")
        if start == "0.0.0.0":
            return [(False, f"firewall rule {start}-{end} admits the whole internet or every Azure tenant")]
        return [(True, f"firewall rule limited to {start}-{end}")]
    return None


def _port_range(low: Any, high: Any) -> range | None:
    try:
        low_i, high_i = int(low), int(high)
    except (TypeError, ValueError):
        return None
    if low_i == -1 or high_i == -1:  # protocol "-1": every port
        return range(0, 65536)
    return range(low_i, high_i + 1)


def _exposed(ports: range | None) -> list[str]:
    if ports is None:
        return []
    return [f"{port} ({service})" for port, service in res.DATA_PORTS.items() if port in ports]


def _aws_ingress(resource: ResourceView) -> Iterator[tuple[list[str], range | None]]:
    """(sources, ports) of every ingress a security group resource admits."""
    if resource.type in res.SECURITY_GROUP:
        for rule in res.as_list(resource.get("ingress")):
            rule = rule or {}
            sources = [*res.as_list(rule.get("cidrBlocks")), *res.as_list(rule.get("ipv6CidrBlocks"))]
            ports = _port_range(rule.get("fromPort"), rule.get("toPort"))
            yield sources, range(0, 65536) if rule.get("protocol") in ("-1", "all") else ports
    elif resource.type in res.SG_INGRESS_RULE:
        sources = [s for s in (resource.get("cidrIpv4"), resource.get("cidrIpv6")) if s]
        every = resource.get("ipProtocol") in ("-1", "all")
        yield sources, range(0, 65536) if every else _port_range(resource.get("fromPort"), resource.get("toPort"))
    elif resource.type in res.SG_RULE and resource.get("type") == "ingress":
        sources = [*res.as_list(resource.get("cidrBlocks")), *res.as_list(resource.get("ipv6CidrBlocks"))]
        every = resource.get("protocol") in ("-1", "all")
        yield sources, range(0, 65536) if every else _port_range(resource.get("fromPort"), resource.get("toPort"))


def _azure_ports(rule: dict[str, Any]) -> range | None:
    specs = [*res.as_list(rule.get("destinationPortRange")), *res.as_list(rule.get("destinationPortRanges"))]
    covered: set[int] = set()
    for spec in specs:
        spec = str(spec)
        if spec == "*":
            return range(0, 65536)
        low, _, high = spec.partition("-")
        ports = _port_range(low, high or low)
        if ports:
            covered.update(p for p in res.DATA_PORTS if p in ports)
    return range(min(covered), max(covered) + 1) if covered else None


def _azure_ingress(resource: ResourceView) -> Iterator[tuple[list[str], range | None]]:
    rules = res.as_list(resource.get("securityRules")) if resource.type in res.AZ_NSG else [resource.props]
    for rule in rules:
        rule = (rule or {}).get("properties", rule) or {}
        if str(rule.get("direction", "")).lower() != "inbound" or str(rule.get("access", "")).lower() != "allow":
            continue
        sources = [*res.as_list(rule.get("sourceAddressPrefix")), *res.as_list(rule.get("sourceAddressPrefixes"))]
        yield [str(s) for s in sources], _azure_ports(rule)


def _nftables_ingress(step: ResourceView) -> Iterator[tuple[list[str], range | None]]:
    """The host firewall step: SSH from the admin list, each service port from its allow-list."""
    yield [str(c) for c in res.as_list(iaas.spec_value(step, "admin"))], range(22, 23)
    for service in res.as_list(iaas.spec_value(step, "services")):
        if isinstance(service, list) and len(service) == 2:
            port = res.number(service[0])
            ports = range(int(port), int(port) + 1) if port is not None else None
            yield [str(c) for c in res.as_list(service[1])], ports


@resource_rule(
    name="no-world-open-data-ports",
    description="No firewall rule admits the whole internet (0.0.0.0/0, ::/0, *) on a data or admin port.",
    control=A_8_20,
    severity=Severity.CRITICAL,
    remediation="Limit the rule to the allow-list (network.adminCidrs, the app tier's security group).",
)
def no_world_open_data_ports(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in (*res.SECURITY_GROUP, *res.SG_INGRESS_RULE, *res.SG_RULE):
        ingress = list(_aws_ingress(resource))
    elif resource.type in (*res.AZ_NSG, *res.AZ_NSG_RULE):
        ingress = list(_azure_ingress(resource))
    elif iaas.kind(resource) == "firewall":
        ingress = list(_nftables_ingress(resource))
    else:
        return None
    bad = []
    for sources, ports in ingress:
        world = [s for s in sources if s in res.WORLD]
        exposed = _exposed(ports)
        if world and exposed:
            bad.append(f"{', '.join(world)} may reach {', '.join(exposed)}")
    if bad:
        return [(False, "; ".join(bad))]
    return [(True, "no data or admin port open to the world")]


RULES = (public_access_blocked, database_not_public, no_world_open_data_ports)
