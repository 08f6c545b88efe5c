"""Network hardening rules: a compliant resource passes, each violation is caught with the rule named."""

from __future__ import annotations

from dataclasses import replace

from opcloud.policies.rules.network_hardening import (
    default_security_group_closed,
    elastic_ip_attached,
    hosts_no_public_ip,
    nic_no_ip_forwarding,
    no_unrestricted_egress,
    no_world_ingress,
    security_group_attached,
    security_group_descriptions,
    subnet_no_auto_public_ip,
    subnets_have_nsg,
    vnet_dns_local,
)

from tests.policies.conftest import IE_AZURE, make, verdict

SG = "aws:ec2/securityGroup:SecurityGroup"
NSG = "azure-native:network:NetworkSecurityGroup"
TLS_FROM_WORLD = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"], "description": "d"}


def _nsg_rule(port: str, source: str = "Internet", protocol: str = "Tcp") -> dict:
    return {
        "name": f"r{port}",
        "direction": "Inbound",
        "access": "Allow",
        "protocol": protocol,
        "sourceAddressPrefix": source,
        "destinationPortRange": port,
    }


def test_world_ingress_only_on_tls() -> None:
    assert verdict(no_world_ingress, make(SG, "sg", ingress=[TLS_FROM_WORLD])) is True
    http = {**TLS_FROM_WORLD, "fromPort": 80, "toPort": 80}
    assert verdict(no_world_ingress, make(SG, "sg", ingress=[http])) is False
    every = {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}
    assert verdict(no_world_ingress, make(SG, "sg", ingress=[every])) is False
    standalone = make(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "r",
        ipProtocol="udp",
        fromPort=53,
        toPort=53,
        cidrIpv4="0.0.0.0/0",
    )
    assert verdict(no_world_ingress, standalone) is False


def test_world_ingress_on_azure() -> None:
    assert verdict(no_world_ingress, make(NSG, "n", securityRules=[_nsg_rule("443")]), context=IE_AZURE) is True
    assert verdict(no_world_ingress, make(NSG, "n", securityRules=[_nsg_rule("80")]), context=IE_AZURE) is False
    udp = _nsg_rule("443", protocol="Udp")
    assert verdict(no_world_ingress, make(NSG, "n", securityRules=[udp]), context=IE_AZURE) is False
    narrow = _nsg_rule("80", source="198.51.100.0/25")
    assert verdict(no_world_ingress, make(NSG, "n", securityRules=[narrow]), context=IE_AZURE) is True


def test_egress_to_the_world_on_every_port_is_caught() -> None:
    by_port = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}
    assert verdict(no_unrestricted_egress, make(SG, "sg", egress=[by_port])) is True
    everything = {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
    assert verdict(no_unrestricted_egress, make(SG, "sg", egress=[by_port, everything])) is False


def test_default_security_group_must_be_managed_and_empty() -> None:
    vpc = make("aws:ec2/vpc:Vpc", "vpc")
    default = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
    assert verdict(default_security_group_closed, vpc, make(default, "d", vpcId="vpc-id", ingress=[])) is True
    assert verdict(default_security_group_closed, vpc) is False
    open_default = make(default, "d", vpcId="vpc-id", ingress=[{"protocol": "-1", "self": True}])
    assert verdict(default_security_group_closed, vpc, open_default) is False


def test_security_groups_and_rules_are_described() -> None:
    good = make(SG, "sg", description="app tier", ingress=[TLS_FROM_WORLD], egress=[])
    assert verdict(security_group_descriptions, good) is True
    bare_rule = {k: v for k, v in TLS_FROM_WORLD.items() if k != "description"}
    assert verdict(security_group_descriptions, make(SG, "sg", description="x", ingress=[bare_rule])) is False
    assert verdict(security_group_descriptions, make(SG, "sg", description="Managed by Pulumi")) is False


def test_subnets() -> None:
    subnet = "aws:ec2/subnet:Subnet"
    assert verdict(subnet_no_auto_public_ip, make(subnet, "s", mapPublicIpOnLaunch=False)) is True
    assert verdict(subnet_no_auto_public_ip, make(subnet, "s", mapPublicIpOnLaunch=True)) is False
    az = "azure-native:network:Subnet"
    guarded = make(az, "s", subnetName="app-a", networkSecurityGroup={"id": "nsg-id"})
    assert verdict(subnets_have_nsg, guarded, context=IE_AZURE) is True
    assert verdict(subnets_have_nsg, make(az, "s", subnetName="app-a"), context=IE_AZURE) is False
    assert verdict(subnets_have_nsg, make(az, "s", subnetName="GatewaySubnet"), context=IE_AZURE) is None


def test_platform_hosts_have_no_public_address() -> None:
    template = "aws:ec2/launchTemplate:LaunchTemplate"
    assert verdict(hosts_no_public_ip, make(template, "lt", networkInterfaces=[])) is True
    public = make(template, "lt", networkInterfaces=[{"associatePublicIpAddress": "true"}])
    assert verdict(hosts_no_public_ip, public) is False
    nic = "azure-native:network:NetworkInterface"
    exposed = make(nic, "nic", ipConfigurations=[{"name": "p", "publicIPAddress": {"id": "ip-id"}}])
    assert verdict(hosts_no_public_ip, exposed, context=IE_AZURE) is False
    assert verdict(hosts_no_public_ip, make(nic, "nic", ipConfigurations=[{"name": "p"}]), context=IE_AZURE) is True
    # The test stand's controller is public by design: outside the rule, not passed by it.
    stand = replace(IE_AZURE, program="test-stand")
    assert verdict(hosts_no_public_ip, exposed, context=stand) is None


def test_no_ip_forwarding() -> None:
    nic = "azure-native:network:NetworkInterface"
    assert verdict(nic_no_ip_forwarding, make(nic, "n", enableIPForwarding=False), context=IE_AZURE) is True
    assert verdict(nic_no_ip_forwarding, make(nic, "n", enableIPForwarding=True), context=IE_AZURE) is False


def test_security_groups_are_attached() -> None:
    group = make(SG, "app-sg", description="app")
    template = make("aws:ec2/launchTemplate:LaunchTemplate", "lt", vpcSecurityGroupIds=["app-sg-id"])
    assert verdict(security_group_attached, group, template) is True
    assert verdict(security_group_attached, group) is False
    # Another group admitting it as a source is not an attachment.
    source = make(SG, "data-sg", description="data", ingress=[{"securityGroups": ["app-sg-id"], "description": "d"}])
    assert verdict(security_group_attached, group, source) is False


def test_elastic_ips_serve_something() -> None:
    eip = make("aws:ec2/eip:Eip", "nat-ip", domain="vpc")
    nat = make("aws:ec2/natGateway:NatGateway", "nat", allocationId="nat-ip-id")
    assert verdict(elastic_ip_attached, eip, nat) is True
    assert verdict(elastic_ip_attached, eip) is False


def test_vnet_dns_servers() -> None:
    vnet = "azure-native:network:VirtualNetwork"
    space = {"addressPrefixes": ["10.60.0.0/16"]}
    assert verdict(vnet_dns_local, make(vnet, "v", addressSpace=space), context=IE_AZURE) is True
    inside = {"dnsServers": ["10.60.0.4", "10.60.0.5"]}
    assert verdict(vnet_dns_local, make(vnet, "v", addressSpace=space, dhcpOptions=inside), context=IE_AZURE) is True
    one = {"dnsServers": ["10.60.0.4"]}
    assert verdict(vnet_dns_local, make(vnet, "v", addressSpace=space, dhcpOptions=one), context=IE_AZURE) is False
    outside = {"dnsServers": ["8.8.8.8", "1.1.1.1"]}
    assert verdict(vnet_dns_local, make(vnet, "v", addressSpace=space, dhcpOptions=outside), context=IE_AZURE) is False
