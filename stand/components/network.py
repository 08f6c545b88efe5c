"""The stand's network: one VNet, a controller subnet and an agents subnet, each behind its own NSG.

Inbound is closed by an explicit deny-all (priority 4096, above Azure's default AllowVnetInBound and
AllowAzureLoadBalancerInBound); the only ways in are HTTPS from the allow-list, SSH from the admin
networks (if any) and HTTPS from the agents subnet to the controller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pulumi
from pulumi_azure_native import network

DENY_ALL_PRIORITY = 4096


@dataclass(frozen=True)
class Rule:
    """One inbound NSG rule, as plain data so its shape is tested without Pulumi."""

    name: str
    priority: int
    access: str  # "Allow" | "Deny"
    sources: tuple[str, ...]
    port: str
    destination: str

    def to_args(self) -> network.SecurityRuleArgs:
        many = len(self.sources) > 1
        return network.SecurityRuleArgs(
            name=self.name,
            priority=self.priority,
            direction="Inbound",
            access=self.access,
            protocol="Tcp" if self.port != "*" else "*",
            source_port_range="*",
            source_address_prefix=None if many else self.sources[0],
            source_address_prefixes=list(self.sources) if many else None,
            destination_address_prefix=self.destination,
            destination_port_range=self.port,
        )


def split_subnets(cidr: IPv4Network) -> tuple[IPv4Network, IPv4Network]:
    """Controller and agents halves of the stand's address space."""
    controller, agents = cidr.subnets(prefixlen_diff=1)
    return controller, agents


def controller_address(subnet: IPv4Network) -> IPv4Address:
    """The controller's fixed private address: the first one Azure does not reserve (.0-.3)."""
    return subnet[4]


def controller_rules(
    allowed: Sequence[IPv4Network], admin: Sequence[IPv4Network], agents: IPv4Network, subnet: IPv4Network
) -> list[Rule]:
    """HTTPS from the allow-list and the agents, SSH only from admin networks, then deny everything."""
    rules = [Rule("allow-https-allow-list", 100, "Allow", tuple(str(c) for c in allowed), "443", str(subnet))]
    if admin:
        rules.append(Rule("allow-ssh-admin", 110, "Allow", tuple(str(c) for c in admin), "22", str(subnet)))
    rules.append(Rule("allow-https-agents", 120, "Allow", (str(agents),), "443", str(subnet)))
    rules.append(Rule("deny-all-inbound", DENY_ALL_PRIORITY, "Deny", ("*",), "*", "*"))
    return rules


def agent_rules(admin: Sequence[IPv4Network], controller: IPv4Network, subnet: IPv4Network) -> list[Rule]:
    """Agents take no inbound connections except SSH from admins through the controller's subnet."""
    rules: list[Rule] = []
    if admin:
        rules.append(Rule("allow-ssh-from-controller", 110, "Allow", (str(controller),), "22", str(subnet)))
    rules.append(Rule("deny-all-inbound", DENY_ALL_PRIORITY, "Deny", ("*",), "*", "*"))
    return rules


@dataclass(frozen=True)
class StandNetworkArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    cidr: IPv4Network
    allowed_cidrs: Sequence[IPv4Network]
    admin_cidrs: Sequence[IPv4Network]
    tags: Mapping[str, str]


class StandNetwork(pulumi.ComponentResource):
    controller_subnet_id: pulumi.Output[str]
    agents_subnet_id: pulumi.Output[str]
    vnet_id: pulumi.Output[str]

    def __init__(self, name: str, args: StandNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure/testStand:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        controller_cidr, agents_cidr = split_subnets(args.cidr)
        self.controller_cidr, self.agents_cidr = controller_cidr, agents_cidr
        self.controller_address = controller_address(controller_cidr)
        common: dict[str, Any] = {"resource_group_name": args.resource_group_name, "location": args.location}
        controller_nsg = network.NetworkSecurityGroup(
            f"{name}-controller-nsg",
            security_rules=[
                r.to_args()
                for r in controller_rules(args.allowed_cidrs, args.admin_cidrs, agents_cidr, controller_cidr)
            ],
            tags=dict(args.tags),
            opts=child,
            **common,
        )
        agents_nsg = network.NetworkSecurityGroup(
            f"{name}-agents-nsg",
            security_rules=[r.to_args() for r in agent_rules(args.admin_cidrs, controller_cidr, agents_cidr)],
            tags=dict(args.tags),
            opts=child,
            **common,
        )
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            address_space=network.AddressSpaceArgs(address_prefixes=[str(args.cidr)]),
            tags=dict(args.tags),
            opts=child,
            **common,
        )
        # Service endpoints let the VMs reach the vault and the artifacts account while both deny the Internet.
        endpoints = [
            network.ServiceEndpointPropertiesFormatArgs(service=s) for s in ("Microsoft.KeyVault", "Microsoft.Storage")
        ]
        controller_subnet = network.Subnet(
            f"{name}-controller",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            address_prefix=str(controller_cidr),
            network_security_group=network.NetworkSecurityGroupArgs(id=controller_nsg.id),
            service_endpoints=endpoints,
            default_outbound_access=False,
            opts=child,
        )
        # Agents have no public IPs: a NAT gateway gives them outbound (apt, git) without any inbound path.
        nat_ip = network.PublicIPAddress(
            f"{name}-nat-ip",
            sku=network.PublicIPAddressSkuArgs(name="Standard"),
            public_ip_allocation_method="Static",
            tags=dict(args.tags),
            opts=child,
            **common,
        )
        nat = network.NatGateway(
            f"{name}-nat",
            sku=network.NatGatewaySkuArgs(name="Standard"),
            public_ip_addresses=[network.SubResourceArgs(id=nat_ip.id)],
            tags=dict(args.tags),
            opts=child,
            **common,
        )
        agents_subnet = network.Subnet(
            f"{name}-agents",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            address_prefix=str(agents_cidr),
            network_security_group=network.NetworkSecurityGroupArgs(id=agents_nsg.id),
            service_endpoints=endpoints,
            nat_gateway=network.SubResourceArgs(id=nat.id),
            default_outbound_access=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controller_subnet]),  # one subnet write at a time
        )
        self.vnet_id = vnet.id
        self.controller_subnet_id = controller_subnet.id
        self.agents_subnet_id = agents_subnet.id
        self.register_outputs(
            {"vnetId": vnet.id, "controllerSubnetId": controller_subnet.id, "agentsSubnetId": agents_subnet.id}
        )
