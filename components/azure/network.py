"""Network and firewall on Azure: VNet, a subnet per tier and zone, an NSG per tier, private DNS.

NSG inbound rules allow only the allow-lists: the public tier takes TLS from `allowed_cidrs`, the app tier
only from the public tier, the data tier only from the app tier, admin ports only from `admin_cidrs`, and
each NSG ends with an explicit deny-all so Azure's default "allow from the VNet" never applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network

import pulumi
from opcloud.components import naming
from opcloud.components.azure._common import after, resource_group, tags
from opcloud.components.interfaces import NetworkArgs, NetworkOutputs, Placement
from opcloud.components.layout import subnet_layout, tier_cidrs
from pulumi_azure_native import network, privatedns

POSTGRES_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"
BLOB_DNS_ZONE = "privatelink.blob.core.windows.net"
VAULT_DNS_ZONE = "privatelink.vaultcore.azure.net"
# Application Gateway v2 must accept its control plane on these ports from the GatewayManager tag.
GATEWAY_MANAGER_PORTS = "65200-65535"
DENY_ALL_PRIORITY = 4096
ADMIN_PORTS = ("22",)
POSTGRES_PORT = "5432"


def delegated_subnet_cidr(cidr: IPv4Network) -> IPv4Network:
    """The PostgreSQL subnet: block 12 of 16, outside every tier's blocks (see components.layout)."""
    return list(cidr.subnets(prefixlen_diff=4))[12]


@dataclass(frozen=True)
class Rule:
    """One inbound NSG rule, before it becomes a provider argument (pure, for tests and reuse)."""

    name: str
    priority: int
    access: str
    sources: tuple[str, ...]
    ports: tuple[str, ...]
    protocol: str = "Tcp"


def tier_rules(tier: str, args: NetworkArgs, postgres_cidr: str) -> list[Rule]:
    """Inbound rules of one tier's NSG: allow-lists first, deny-all last."""
    public = tuple(tier_cidrs(args.cidr, args.zones, "public"))
    app = tuple(tier_cidrs(args.cidr, args.zones, "app"))
    admin = tuple(str(c) for c in args.admin_cidrs)
    rules: list[Rule] = []
    if tier == "public":
        rules.append(
            Rule("allow-https-from-allowed", 100, "Allow", tuple(str(c) for c in args.allowed_cidrs), ("443",))
        )
        rules.append(Rule("allow-gateway-manager", 110, "Allow", ("GatewayManager",), (GATEWAY_MANAGER_PORTS,)))
        rules.append(Rule("allow-azure-load-balancer", 120, "Allow", ("AzureLoadBalancer",), ("*",), "*"))
    elif tier == "app":
        rules.append(Rule("allow-https-from-public", 100, "Allow", public, ("443",)))
        if admin:
            rules.append(Rule("allow-admin-ssh", 110, "Allow", admin, ADMIN_PORTS))
    elif tier == "data":
        rules.append(Rule("allow-postgres-from-app", 100, "Allow", app, (POSTGRES_PORT,)))
        rules.append(Rule("allow-endpoints-from-app", 110, "Allow", app, ("443",)))
        if admin:
            rules.append(Rule("allow-admin-postgres", 120, "Allow", admin, (POSTGRES_PORT,)))
        # HA standby and replicas talk to each other inside the delegated subnet.
        rules.append(Rule("allow-postgres-peers", 130, "Allow", (postgres_cidr,), (POSTGRES_PORT,)))
    else:
        raise ValueError(f"unknown tier {tier!r}")
    rules.append(Rule("deny-all-inbound", DENY_ALL_PRIORITY, "Deny", ("*",), ("*",), "*"))
    return rules


def _security_rule(rule: Rule) -> network.SecurityRuleArgs:
    many_sources = len(rule.sources) > 1
    many_ports = len(rule.ports) > 1
    return network.SecurityRuleArgs(
        name=rule.name,
        priority=rule.priority,
        direction="Inbound",
        access=rule.access,
        protocol=rule.protocol,
        source_port_range="*",
        source_address_prefix=None if many_sources else rule.sources[0],
        source_address_prefixes=list(rule.sources) if many_sources else None,
        destination_address_prefix="*",
        destination_port_range=None if many_ports else rule.ports[0],
        destination_port_ranges=list(rule.ports) if many_ports else None,
    )


@dataclass(frozen=True)
class AzureNetworkOutputs(NetworkOutputs):
    """The neutral outputs plus what only Azure consumers need (delegated subnet, private DNS zones)."""

    resource_group_name: str = ""
    postgres_subnet_id: pulumi.Output[str] | None = None
    postgres_dns_zone_id: pulumi.Output[str] | None = None
    blob_dns_zone_id: pulumi.Output[str] | None = None
    vault_dns_zone_id: pulumi.Output[str] | None = None


@dataclass
class NetworkNative:
    vnet: network.VirtualNetwork
    subnets: dict[str, network.Subnet]
    security_groups: dict[str, network.NetworkSecurityGroup]
    dns_zones: dict[str, privatedns.PrivateZone]
    dns_links: list[privatedns.VirtualNetworkLink] = field(default_factory=list)


class AzureNetwork(pulumi.ComponentResource):
    outputs: AzureNetworkOutputs
    native: NetworkNative

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:Network", name, None, opts)
        placement = args.placement
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        postgres_cidr = delegated_subnet_cidr(args.cidr)

        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=rg,
            location=placement.region,
            virtual_network_name=f"{placement.prefix}-vnet",
            address_space=network.AddressSpaceArgs(address_prefixes=[str(args.cidr)]),
            tags=tags(placement),
            opts=child,
        )
        vnet_name = after(vnet, f"{placement.prefix}-vnet")

        groups = {
            tier: network.NetworkSecurityGroup(
                f"{name}-{tier}-nsg",
                resource_group_name=rg,
                location=placement.region,
                network_security_group_name=f"{placement.prefix}-{tier}-nsg",
                security_rules=[_security_rule(r) for r in tier_rules(tier, args, str(postgres_cidr))],
                tags=tags(placement, tier=tier),
                opts=child,
            )
            for tier in ("public", "app", "data")
        }

        # Subnets of one VNet are created one after another: Azure refuses concurrent subnet writes.
        subnets: dict[str, network.Subnet] = {}
        previous: list[pulumi.Resource] = []
        plan = [(f"{s.tier}-{s.zone_letter}", s.tier, str(s.cidr)) for s in subnet_layout(args.cidr, args.zones)]
        plan.append(("postgres", "data", str(postgres_cidr)))
        for key, tier, cidr in plan:
            subnet = network.Subnet(
                f"{name}-{key}",
                resource_group_name=rg,
                virtual_network_name=vnet_name,
                subnet_name=key,
                address_prefix=cidr,
                network_security_group=network.NetworkSecurityGroupArgs(id=groups[tier].id),
                default_outbound_access=False,
                private_endpoint_network_policies="Enabled",
                delegations=(
                    [network.DelegationArgs(name="postgres", service_name=POSTGRES_DELEGATION)]
                    if key == "postgres"
                    else None
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            subnets[key] = subnet
            previous = [subnet]

        zones: dict[str, privatedns.PrivateZone] = {}
        links: list[privatedns.VirtualNetworkLink] = []
        for key, zone_name in (
            ("postgres", naming.azure_postgres_dns_zone(placement.prefix)),
            ("blob", BLOB_DNS_ZONE),
            ("vault", VAULT_DNS_ZONE),
        ):
            zone = privatedns.PrivateZone(
                f"{name}-{key}-dns",
                resource_group_name=rg,
                location="global",
                private_zone_name=zone_name,
                tags=tags(placement),
                opts=child,
            )
            zones[key] = zone
            links.append(
                privatedns.VirtualNetworkLink(
                    f"{name}-{key}-dns-link",
                    resource_group_name=rg,
                    location="global",
                    private_zone_name=after(zone, zone_name),
                    virtual_network_link_name=f"{placement.prefix}-{key}-link",
                    virtual_network=privatedns.SubResourceArgs(id=vnet.id),
                    registration_enabled=False,
                    tags=tags(placement),
                    opts=child,
                )
            )

        def ids(tier: str) -> list[pulumi.Output[str]]:
            return [subnets[k].id for k, t, _ in plan if t == tier and k != "postgres"]

        self.native = NetworkNative(vnet, subnets, groups, zones, links)
        self.outputs = AzureNetworkOutputs(
            network_id=vnet.id,
            public_subnet_ids=ids("public"),
            app_subnet_ids=ids("app"),
            data_subnet_ids=ids("data"),
            firewall_ids={tier: group.id for tier, group in groups.items()},
            resource_group_name=rg,
            postgres_subnet_id=subnets["postgres"].id,
            # The server must wait for the zone's VNet link, or its name does not resolve inside the VNet.
            postgres_dns_zone_id=pulumi.Output.all(zones["postgres"].id, links[0].id).apply(lambda v: v[0]),
            blob_dns_zone_id=zones["blob"].id,
            vault_dns_zone_id=zones["vault"].id,
        )
        self.register_outputs({"networkId": vnet.id})


# ------------------------------------------------------------------------------------- private endpoints


@dataclass(frozen=True)
class PrivateEndpointArgs:
    placement: Placement
    target_id: pulumi.Input[str]
    group: str  # sub-resource: "blob", "vault"
    subnet_id: pulumi.Input[str]
    dns_zone_id: pulumi.Input[str]


@dataclass
class PrivateEndpointNative:
    endpoint: network.PrivateEndpoint
    dns_group: network.PrivateDnsZoneGroup


class AzurePrivateEndpoint(pulumi.ComponentResource):
    """A private endpoint in a data subnet with its A record in the matching private DNS zone."""

    native: PrivateEndpointNative
    endpoint_id: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure:PrivateEndpoint", name, None, opts)
        placement = args.placement
        rg = resource_group(placement)
        endpoint_name = f"{placement.prefix}-{args.group}-pe"
        endpoint = network.PrivateEndpoint(
            f"{name}-endpoint",
            resource_group_name=rg,
            location=placement.region,
            private_endpoint_name=endpoint_name,
            subnet=network.SubnetArgs(id=args.subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=f"{endpoint_name}-connection",
                    private_link_service_id=args.target_id,
                    group_ids=[args.group],
                )
            ],
            tags=tags(placement),
            opts=pulumi.ResourceOptions(parent=self),
        )
        dns_group = network.PrivateDnsZoneGroup(
            f"{name}-dns",
            resource_group_name=rg,
            private_endpoint_name=after(endpoint, endpoint_name),
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[
                network.PrivateDnsZoneConfigArgs(name=args.group, private_dns_zone_id=args.dns_zone_id)
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.native = PrivateEndpointNative(endpoint, dns_group)
        self.endpoint_id = endpoint.id
        self.register_outputs({"endpointId": endpoint.id})


def data_subnet(outputs: NetworkOutputs) -> pulumi.Output[str]:
    """The subnet private endpoints go to: the first data subnet."""
    return outputs.data_subnet_ids[0]


def require_azure(outputs: NetworkOutputs) -> AzureNetworkOutputs:
    if not isinstance(outputs, AzureNetworkOutputs):
        raise TypeError("Azure components need the outputs of components.azure.AzureNetwork")
    return outputs
