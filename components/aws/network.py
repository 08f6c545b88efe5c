"""VPC with public, app and data subnets per zone, tier security groups and VPC endpoints."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from opcloud.components.interfaces import NetworkArgs, NetworkOutputs
from opcloud.components.layout import subnet_layout

APP_PORTS = (8080, 8081)  # API, document service
POSTGRES_PORT = 5432
# Interface endpoints keep AWS API traffic of the hosts inside the VPC.
INTERFACE_ENDPOINTS = ("kms", "logs", "ssm", "ssmmessages", "ec2messages", "secretsmanager", "sts")


@dataclass(frozen=True)
class AwsNetworkNative:
    vpc: aws.ec2.Vpc
    subnets: dict[str, list[aws.ec2.Subnet]]
    security_groups: dict[str, aws.ec2.SecurityGroup]
    nat_gateway: aws.ec2.NatGateway


class AwsNetwork(pulumi.ComponentResource):
    outputs: NetworkOutputs
    native: AwsNetworkNative

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.placement.tags)
        region = args.placement.region

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        # The default security group would allow all traffic between its members: strip it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags=tags, opts=child)

        subnets: dict[str, list[aws.ec2.Subnet]] = {"public": [], "app": [], "data": []}
        for planned in subnet_layout(args.cidr, args.zones):
            subnets[planned.tier].append(
                aws.ec2.Subnet(
                    f"{name}-{planned.tier}-{planned.zone_letter}",
                    vpc_id=vpc.id,
                    cidr_block=str(planned.cidr),
                    availability_zone=f"{region}{planned.zone_letter}",
                    map_public_ip_on_launch=False,
                    tags={**tags, "Name": f"{name}-{planned.tier}-{planned.zone_letter}", "tier": planned.tier},
                    opts=child,
                )
            )

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=tags,
            opts=child,
        )
        for index, subnet in enumerate(subnets["public"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{index}", subnet_id=subnet.id, route_table_id=public_routes.id, opts=child
            )
        nat_ip = aws.ec2.Eip(f"{name}-nat-ip", domain="vpc", tags=tags, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat", subnet_id=subnets["public"][0].id, allocation_id=nat_ip.id, tags=tags, opts=child
        )
        private_routes = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
            tags=tags,
            opts=child,
        )
        # Only the app tier may leave the VPC (package updates); the data tier has no route out.
        for index, subnet in enumerate(subnets["app"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-app-rta-{index}", subnet_id=subnet.id, route_table_id=private_routes.id, opts=child
            )
        data_routes = aws.ec2.RouteTable(f"{name}-data-rt", vpc_id=vpc.id, tags=tags, opts=child)
        for index, subnet in enumerate(subnets["data"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-data-rta-{index}", subnet_id=subnet.id, route_table_id=data_routes.id, opts=child
            )

        groups = self._security_groups(name, args, vpc, tags, child)
        self._endpoints(name, vpc, region, subnets, groups, [private_routes, data_routes], tags, child)

        self.native = AwsNetworkNative(vpc=vpc, subnets=subnets, security_groups=groups, nat_gateway=nat)
        self.outputs = NetworkOutputs(
            network_id=vpc.id,
            public_subnet_ids=[s.id for s in subnets["public"]],
            app_subnet_ids=[s.id for s in subnets["app"]],
            data_subnet_ids=[s.id for s in subnets["data"]],
            firewall_ids={tier: group.id for tier, group in groups.items()},
        )
        self.register_outputs({"vpcId": vpc.id})

    @staticmethod
    def _security_groups(
        name: str, args: NetworkArgs, vpc: aws.ec2.Vpc, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> dict[str, aws.ec2.SecurityGroup]:
        vpc_cidr = str(args.cidr)
        public = aws.ec2.SecurityGroup(
            f"{name}-public-sg",
            vpc_id=vpc.id,
            description="Load balancer: TLS from the allow-list only",
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": list(args.allowed_cidrs),
                    "description": "HTTPS from allowed networks",
                }
            ],
            egress=[
                {
                    "protocol": "tcp",
                    "from_port": min(APP_PORTS),
                    "to_port": max(APP_PORTS),
                    "cidr_blocks": [vpc_cidr],
                    "description": "to the app tier",
                }
            ],
            tags={**tags, "tier": "public"},
            opts=child,
        )
        app = aws.ec2.SecurityGroup(
            f"{name}-app-sg",
            vpc_id=vpc.id,
            description="API and document hosts: from the load balancer only",
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": min(APP_PORTS),
                    "to_port": max(APP_PORTS),
                    "security_groups": [public.id],
                    "description": "from the load balancer",
                }
            ],
            egress=[
                {
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": ["0.0.0.0/0"],
                    "description": "HTTPS to AWS endpoints and package mirrors",
                },
                {
                    "protocol": "tcp",
                    "from_port": POSTGRES_PORT,
                    "to_port": POSTGRES_PORT,
                    "cidr_blocks": [vpc_cidr],
                    "description": "to the database",
                },
            ],
            tags={**tags, "tier": "app"},
            opts=child,
        )
        data_ingress: list[aws.ec2.SecurityGroupIngressArgsDict] = [
            {
                "protocol": "tcp",
                "from_port": POSTGRES_PORT,
                "to_port": POSTGRES_PORT,
                "security_groups": [app.id],
                "description": "PostgreSQL from the app tier",
            },
            {
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_blocks": [vpc_cidr],
                "description": "VPC endpoints from inside the VPC",
            },
        ]
        if args.admin_cidrs:
            data_ingress.append(
                {
                    "protocol": "tcp",
                    "from_port": POSTGRES_PORT,
                    "to_port": POSTGRES_PORT,
                    "cidr_blocks": list(args.admin_cidrs),
                    "description": "PostgreSQL from operators (VPN)",
                }
            )
        data = aws.ec2.SecurityGroup(
            f"{name}-data-sg",
            vpc_id=vpc.id,
            description="Database and endpoints: from the app tier and operators only",
            ingress=data_ingress,
            egress=[
                {
                    "protocol": "-1",
                    "from_port": 0,
                    "to_port": 0,
                    "cidr_blocks": [vpc_cidr],
                    "description": "inside the VPC only",
                }
            ],
            tags={**tags, "tier": "data"},
            opts=child,
        )
        return {"public": public, "app": app, "data": data}

    @staticmethod
    def _endpoints(
        name: str,
        vpc: aws.ec2.Vpc,
        region: str,
        subnets: dict[str, list[aws.ec2.Subnet]],
        groups: dict[str, aws.ec2.SecurityGroup],
        route_tables: list[aws.ec2.RouteTable],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in route_tables],
            tags=tags,
            opts=child,
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in subnets["data"]],
                security_group_ids=[groups["data"].id],
                tags=tags,
                opts=child,
            )
