"""Network hardening beyond the data ports: world ingress, egress, default groups, subnets, public addresses.

Firewall entries are read in the three shapes the providers take them: inline rules of a security group /
NSG, standalone security-group rules, and standalone NSG rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_20,
    UNKNOWN,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
    stack_rule,
)
from opcloud.policies.rules import links

# The one port the world may reach: TLS on the public entry (still narrowed by the WAF allow-list).
PUBLIC_TLS_PORT = 443


def _port_range(entry: Mapping[str, Any]) -> tuple[int, int] | None:
    """(from, to) of an AWS rule; None when it covers every port (protocol -1 / all)."""
    protocol = str(entry.get("protocol", entry.get("ipProtocol", ""))).lower()
    if protocol in ("-1", "all"):
        return None
    low, high = res.number(entry.get("fromPort")), res.number(entry.get("toPort"))
    if low is None or high is None:
        return None
    return int(low), int(high)


def _aws_world(entry: Mapping[str, Any]) -> bool:
    sources = [*res.as_list(entry.get("cidrBlocks")), *res.as_list(entry.get("ipv6CidrBlocks"))]
    sources += [entry.get("cidrIpv4"), entry.get("cidrIpv6")]
    return any(s in res.WORLD for s in sources if s)


def _aws_entries(resource: ResourceView, direction: str) -> Iterator[Mapping[str, Any]]:
    """Rules of one direction held by a security group or standalone rule resource."""
    t = resource.type
    if t in res.SECURITY_GROUP or t in res.DEFAULT_SECURITY_GROUP:
        yield from (e for e in res.as_list(resource.get(direction)) if isinstance(e, Mapping))
    else:
        standalone = res.SG_INGRESS_RULE if direction == "ingress" else res.SG_EGRESS_RULE
        if (t in res.SG_RULE and resource.get("type") == direction) or t in standalone:
            yield resource.props


def _azure_rules(resource: ResourceView) -> Iterator[Mapping[str, Any]]:
    if resource.type in res.AZ_NSG:
        yield from (r for r in res.as_list(resource.get("securityRules")) if isinstance(r, Mapping))
    elif resource.type in res.AZ_NSG_RULE:
        yield resource.props


def _azure_sources(rule: Mapping[str, Any]) -> list[str]:
    return [str(s) for s in [rule.get("sourceAddressPrefix"), *res.as_list(rule.get("sourceAddressPrefixes"))] if s]


def _azure_ports(rule: Mapping[str, Any]) -> list[str]:
    return [str(p) for p in [rule.get("destinationPortRange"), *res.as_list(rule.get("destinationPortRanges"))] if p]


@resource_rule(
    name="no-world-ingress",
    description="No firewall rule admits the whole internet on any port but TLS (443/tcp) to the public entry: "
    "no HTTP, no UDP, no all-ports rule.",
    control=A_8_20,
    severity=Severity.HIGH,
    remediation="Narrow the rule's source to the allow-list, or serve the port through the load balancer on 443.",
    not_applicable={"iaas": "nftables allow-lists are judged by the IaaS allow-list rule"},
)
def no_world_ingress(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    problems: list[str] = []
    entries = list(_aws_entries(resource, "ingress"))
    for entry in entries:
        if not _aws_world(entry):
            continue
        ports = _port_range(entry)
        protocol = str(entry.get("protocol", entry.get("ipProtocol", ""))).lower()
        if ports != (PUBLIC_TLS_PORT, PUBLIC_TLS_PORT) or protocol not in ("tcp", "6"):
            problems.append(f"{protocol or '?'} {ports or 'all ports'} from the internet")
    rules = list(_azure_rules(resource))
    for rule in rules:
        if rule.get("direction") != "Inbound" or rule.get("access") != "Allow":
            continue
        if not set(_azure_sources(rule)) & set(res.WORLD):
            continue
        rule_ports, protocol = _azure_ports(rule), str(rule.get("protocol", ""))
        if rule_ports != [str(PUBLIC_TLS_PORT)] or protocol.lower() != "tcp":
            problems.append(f"{rule.get('name')}: {protocol} {','.join(rule_ports)} from the internet")
    if not entries and not rules:
        return None
    if problems:
        return [(False, "; ".join(problems))]
    return [(True, "nothing but 443/tcp is open to the internet")]


@resource_rule(
    name="no-unrestricted-egress",
    description="No security group lets every protocol and port out to the whole internet.",
    control=A_8_20,
    severity=Severity.MEDIUM,
    remediation="Allow egress per port (443 to endpoints, 5432 inside the VPC) instead of protocol -1 to 0.0.0.0/0.",
    not_applicable={
        "azure": "this rule reads AWS security-group egress lists; Azure NSG outbound rules are not judged "
        "(gap: the NSGs keep Azure's default outbound rule)",
        "iaas": "nftables allow-lists are judged by the IaaS allow-list rule",
    },
)
def no_unrestricted_egress(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in (*res.SECURITY_GROUP, *res.SG_RULE, *res.SG_EGRESS_RULE):
        return None
    entries = list(_aws_entries(resource, "egress"))
    if not entries and resource.type not in res.SECURITY_GROUP:
        return None  # a standalone ingress rule
    wide = [e for e in entries if _aws_world(e) and _port_range(e) is None]
    if wide:
        return [(False, "egress of every protocol and port to the internet")]
    # A group declared without egress has none: the provider removes AWS's default allow-all on creation.
    return [(True, "egress limited by port or destination")]


@resource_rule(
    name="default-security-group-closed",
    description="The VPC's default security group admits nothing and lets nothing out.",
    control=A_8_20,
    severity=Severity.MEDIUM,
    remediation="Manage aws.ec2.DefaultSecurityGroup with empty ingress and egress.",
    needs_stack=True,
    not_applicable={"azure": "Azure has no default security group", "iaas": "a VM-only cloud has no VPC"},
)
def default_security_group_closed(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.VPC:
        return None
    groups = links.by_name(stack.referencing(resource, *res.DEFAULT_SECURITY_GROUP, prop="vpcId"))
    if not groups:
        return [(False, "default security group not managed: AWS leaves it open between its members")]
    for group in groups:
        if res.as_list(group.get("ingress")) or res.as_list(group.get("egress")):
            return [(False, f"default security group {group.name} still has rules")]
    return [(True, f"default security group {groups[0].name} has no rules")]


@resource_rule(
    name="security-group-descriptions",
    description="Every security group and each of its rules says what it is for.",
    control=A_8_20,
    severity=Severity.LOW,
    remediation="Give the group and every ingress/egress entry a description.",
    not_applicable={
        "azure": "NSG rules carry names, not descriptions",
        "iaas": "nftables rules live on the hosts themselves",
    },
)
def security_group_descriptions(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.SECURITY_GROUP:
        if not resource.get("description") or resource.get("description") == "Managed by Pulumi":
            return [(False, "the group has no description of its own")]
        entries = [*_aws_entries(resource, "ingress"), *_aws_entries(resource, "egress")]
        bare = sum(1 for e in entries if not e.get("description"))
        if bare:
            return [(False, f"{bare} rule(s) without a description")]
        return [(True, "group and rules described")]
    if resource.type in (*res.SG_RULE, *res.SG_INGRESS_RULE, *res.SG_EGRESS_RULE):
        described = bool(resource.get("description"))
        return [(described, "rule described" if described else "no description")]
    return None


@resource_rule(
    name="subnet-no-auto-public-ip",
    description="No subnet hands out public IP addresses to what starts in it.",
    control=A_8_20,
    severity=Severity.MEDIUM,
    remediation="Set mapPublicIpOnLaunch false; only the load balancer and NAT gateway face the internet.",
    not_applicable={
        "azure": "Azure subnets never assign public IPs (hosts-no-public-ip)",
        "iaas": "a VM-only cloud has no managed subnets",
    },
)
def subnet_no_auto_public_ip(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.SUBNET:
        return None
    if res.truthy(resource.get("mapPublicIpOnLaunch")):
        return [(False, "mapPublicIpOnLaunch is true")]
    return [(True, "no public IP by default")]


@resource_rule(
    name="subnets-have-nsg",
    description="Every Azure subnet (but those Azure forbids an NSG on) is guarded by a network security group.",
    control=A_8_20,
    severity=Severity.MEDIUM,
    remediation="Attach the tier's NSG to the subnet (networkSecurityGroup.id).",
    needs_stack=True,
    not_applicable={
        "aws": "AWS subnets are filtered by security groups on each interface",
        "iaas": "a VM-only cloud has no managed subnets",
    },
)
def subnets_have_nsg(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AZ_SUBNET:
        return None
    if str(resource.get("subnetName", "")) in ("GatewaySubnet", "AzureFirewallSubnet", "RouteServerSubnet"):
        return None  # Azure refuses an NSG on these
    if resource.get("networkSecurityGroup.id") or links.pointed_at(
        stack, resource, "networkSecurityGroup.id", *res.AZ_NSG
    ):
        return [(True, "NSG attached")]
    if resource.get("networkSecurityGroup") == UNKNOWN:
        return [pending("the subnet's network security group")]
    return [(False, "no network security group")]


def _public_ip_configs(resource: ResourceView) -> list[str]:
    """Names of IP configurations that take a public IP address (VM NICs, scale-set NIC templates)."""
    found: list[str] = []
    if resource.type in res.AZ_NIC:
        for ip in res.as_list(resource.get("ipConfigurations")):
            if isinstance(ip, Mapping) and ip.get("publicIPAddress"):
                found.append(str(ip.get("name", "?")))
    elif resource.type in res.AZ_VMSS:
        for nic in res.as_list(resource.get("virtualMachineProfile.networkProfile.networkInterfaceConfigurations")):
            for ip in res.as_list((nic or {}).get("ipConfigurations")):
                if isinstance(ip, Mapping) and ip.get("publicIPAddressConfiguration"):
                    found.append(str(ip.get("name", "?")))
    return found


@resource_rule(
    name="hosts-no-public-ip",
    description="Platform hosts have no public address: only the load balancer faces the internet. (The Jenkins "
    "test stand's controller is reached on 443 from its allow-list by design and is outside this rule.)",
    control=A_8_20,
    severity=Severity.HIGH,
    remediation="Remove associatePublicIpAddress / publicIPAddress; reach hosts through the load balancer or SSM.",
    not_applicable={
        "program:test-stand": "the Jenkins controller is reached on 443 from its allow-list by design",
        "iaas": "IaaS hosts are addressed by the site; their exposure is judged by the allow-list rules",
    },
)
def hosts_no_public_ip(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if stack.context.program != "platform":
        return None
    if resource.type in res.LAUNCH_TEMPLATE:
        public = [
            n
            for n in res.as_list(resource.get("networkInterfaces"))
            if isinstance(n, Mapping) and res.truthy(n.get("associatePublicIpAddress"))
        ]
        return [(not public, "associatePublicIpAddress on a network interface" if public else "no public IP")]
    if resource.type in res.EC2_INSTANCE:
        public_ip = res.truthy(resource.get("associatePublicIpAddress"))
        return [(not public_ip, "associatePublicIpAddress is true" if public_ip else "no public IP")]
    if resource.type in res.AZ_NIC or resource.type in res.AZ_VMSS:
        configs = _public_ip_configs(resource)
        return [(not configs, f"public IP on {', '.join(configs)}" if configs else "no public IP")]
    return None


@resource_rule(
    name="nic-no-ip-forwarding",
    description="No network interface forwards traffic that is not addressed to it.",
    control=A_8_20,
    severity=Severity.MEDIUM,
    remediation="Leave enableIPForwarding off (Azure) / sourceDestCheck on (AWS) unless the host is a router.",
    not_applicable={
        "aws": "AWS forwarding is a source/destination check on an instance or interface, which launch "
        "templates cannot turn off",
        "iaas": "a VM-only cloud has no managed interfaces",
    },
)
def nic_no_ip_forwarding(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.AZ_NIC:
        on = res.truthy(resource.get("enableIPForwarding"))
        return [(not on, "enableIPForwarding is true" if on else "IP forwarding off")]
    if resource.type in res.AZ_VMSS:
        nics = res.as_list(resource.get("virtualMachineProfile.networkProfile.networkInterfaceConfigurations"))
        forwarding = [n.get("name") for n in nics if isinstance(n, Mapping) and res.truthy(n.get("enableIPForwarding"))]
        return [(not forwarding, f"enableIPForwarding on {forwarding}" if forwarding else "IP forwarding off")]
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@resource_rule(
    name="security-group-attached",
    description="Every security group guards something (a host template, load balancer, database or endpoint): "
    "a stray group is a rule set nobody reviews.",
    control=A_8_20,
    severity=Severity.LOW,
    remediation="Delete the unused security group or attach it where it belongs.",
    needs_stack=True,
    not_applicable={
        "azure": "NSGs are judged by subnets-have-nsg",
        "iaas": "nftables rules live on the hosts themselves",
    },
)
def security_group_attached(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.SECURITY_GROUP:
        return None
    rules = (*res.SECURITY_GROUP, *res.SG_RULE, *res.SG_INGRESS_RULE, *res.SG_EGRESS_RULE)
    # Rules and groups naming this group as a source do not attach it to anything.
    users = [
        other
        for other in stack.resources
        if other is not resource
        and other.type not in rules
        and (
            any(resource.urn in urns for urns in other.refs.values())
            or any(resource in stack.resolve(value) for value in _strings(other.props))
        )
    ]
    if users:
        first = links.by_name(users)[0]
        return [(True, f"attached to {first.type.split(':')[-1]} {first.name}")]
    return [(False, "attached to nothing")]


def _eip_verdict(eip: ResourceView, stack: StackView) -> Verdict:
    if eip.get("instance") or eip.get("networkInterface"):
        return True, "attached to an instance or interface"
    users = links.by_name(
        [
            *stack.referencing(eip, *res.NAT_GATEWAY, prop="allocationId"),
            *stack.referencing(eip, *res.EIP_ASSOCIATION, prop="allocationId"),
        ]
    )
    if users:
        return True, f"used by {res.names(users)}"
    return False, "attached to nothing"


@stack_rule(
    name="elastic-ip-attached",
    description="Every Elastic IP serves something (the NAT gateway, an instance): no stray public address.",
    control=A_8_20,
    severity=Severity.LOW,
    remediation="Release the unused Elastic IP or attach it where it belongs.",
    not_applicable={
        "azure": "Azure has no Elastic IPs (public IPs are judged by hosts-no-public-ip)",
        "iaas": "a VM-only cloud has no Elastic IPs",
    },
)
def elastic_ip_attached(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    if stack.context.cloud != "aws":
        return
    eips = stack.of_type(*res.EIP)
    if not eips:
        yield None, True, "no Elastic IP in the stack"
    for eip in eips:
        yield (eip, *_eip_verdict(eip, stack))


@resource_rule(
    name="vnet-dns-local",
    description="A VNet that names its own DNS servers names at least two, inside its address space (no reliance "
    "on a single or outside resolver); the Azure-provided DNS passes.",
    control=A_8_20,
    severity=Severity.LOW,
    remediation="Leave dhcpOptions unset (Azure DNS + private DNS zones) or list two resolvers inside the VNet.",
    not_applicable={
        "aws": "AWS VPCs use the Amazon-provided resolver: there is no per-network DNS server list",
        "iaas": "IaaS hosts resolve through the site's own DNS, outside the stack",
    },
)
def vnet_dns_local(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AZ_VNET:
        return None
    servers = [str(s) for s in res.as_list(resource.get("dhcpOptions.dnsServers"))]
    if not servers:
        return [(True, "Azure-provided DNS")]
    spaces = [str(p) for p in res.as_list(resource.get("addressSpace.addressPrefixes"))]
    outside = [s for s in servers if not any(_in_network(s, p) for p in spaces)]
    if len(servers) < 2:
        return [(False, "a single DNS server")]
    if outside:
        return [(False, f"DNS servers outside the VNet: {', '.join(outside)}")]
    return [(True, f"{len(servers)} DNS servers inside the VNet")]


def _in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


RULES = (
    elastic_ip_attached,
    vnet_dns_local,
    security_group_attached,
    no_world_ingress,
    no_unrestricted_egress,
    default_security_group_closed,
    security_group_descriptions,
    subnet_no_auto_public_ip,
    subnets_have_nsg,
    hosts_no_public_ip,
    nic_no_ip_forwarding,
)
