"""App tier: API and document hosts in auto scaling groups behind an HTTPS-only ALB with WAF, TLS end to end."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from opcloud.components.aws import release as aws_release
from opcloud.components.aws.iam import service_trust_policy
from opcloud.components.aws.network import APP_PORTS
from opcloud.components.interfaces import AppTierArgs, AppTierOutputs, HostGroupSpec, ReleaseArgs
from opcloud.components.naming import bucket_name

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.2 and 1.3 only
# Debian 12 images by Debian's own account; the name filter picks the newest amd64 build.
DEBIAN_OWNER = "136693071363"
_SERVICES = {"api": ("/api/*", APP_PORTS[0]), "docs": ("/documents/*", APP_PORTS[1])}
DEFAULT_HEALTH_PATH = "/health"
SECRET_RECOVERY_DAYS = 30


# Allow what no rule blocked (the allow-list and rate rules decide).
_ALLOW: aws.wafv2.WebAclDefaultActionArgsDict = {"allow": {}}


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


def waf_rules(prefix: str, ip_set_arn: pulumi.Input[str], rate_limit: int) -> list[aws.wafv2.WebAclRuleArgsDict]:
    """Allow-list first, then the per-IP rate limit, then AWS's managed protections."""
    managed = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet")
    managed_rules: list[aws.wafv2.WebAclRuleArgsDict] = [
        {
            "name": group,
            "priority": 10 + index,
            "override_action": {"none": {}},
            "statement": {"managed_rule_group_statement": {"name": group, "vendor_name": "AWS"}},
            "visibility_config": _visibility(f"{prefix}-{group}"),
        }
        for index, group in enumerate(managed)
    ]
    return [
        {
            "name": "allow-list",
            "priority": 0,
            "action": {"block": {}},
            "statement": {"not_statement": {"statement": {"ip_set_reference_statement": {"arn": ip_set_arn}}}},
            "visibility_config": _visibility(f"{prefix}-allow-list"),
        },
        {
            "name": "rate-limit",
            "priority": 1,
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {"limit": rate_limit, "aggregate_key_type": "IP", "evaluation_window_sec": 300}
            },
            "visibility_config": _visibility(f"{prefix}-rate-limit"),
        },
        *managed_rules,
    ]


def one_extra_host_percentage(max_size: int) -> int:
    """Instance refresh's maxHealthyPercentage that lets at most one host above the desired capacity (up to
    `max_size`) run at a time: the roll replaces one host, launched before the old one goes."""
    return 100 + -(-100 // max_size)


@dataclass(frozen=True)
class AwsAppTierNative:
    load_balancer: aws.lb.LoadBalancer
    listener: aws.lb.Listener
    web_acl: aws.wafv2.WebAcl
    groups: dict[str, aws.autoscaling.Group]
    secrets: dict[str, aws.secretsmanager.Secret]  # Secrets Manager name -> secret (empty without a release)


class AwsAppTier(pulumi.ComponentResource):
    outputs: AppTierOutputs
    native: AwsAppTierNative

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:AppTier", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        placement = args.placement
        tags = dict(placement.tags)
        network = args.network

        load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=list(network.public_subnet_ids),
            security_groups=[network.firewall_ids["public"]],
            drop_invalid_header_fields=True,
            enable_deletion_protection=placement.production,
            access_logs={"bucket": args.log_target, "prefix": "alb", "enabled": True} if args.log_target else None,
            tags=tags,
            opts=child,
        )
        release = args.release
        health_paths = {
            service: release.roles[service].health_path if release else DEFAULT_HEALTH_PATH for service in _SERVICES
        }
        target_groups = {
            service: aws.lb.TargetGroup(
                f"{name}-{service}-tg",
                vpc_id=network.network_id,
                port=port,
                # TLS to the hosts too: the ALB re-encrypts towards each host (it accepts the host's own,
                # e.g. self-signed, certificate), so nothing crosses the VPC in clear text.
                protocol="HTTPS",
                target_type="instance",
                health_check={
                    "path": health_paths[service],
                    "matcher": "200",
                    "port": str(port),
                    "protocol": "HTTPS",
                },
                tags=tags,
                opts=child,
            )
            for service, (_path, port) in _SERVICES.items()
        }
        # HTTPS only: there is no port 80 listener at all, so nothing travels in clear text.
        listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=args.certificate,
            default_actions=[
                {"type": "fixed-response", "fixed_response": {"content_type": "text/plain", "status_code": "404"}}
            ],
            tags=tags,
            opts=child,
        )
        for priority, (service, (path, _port)) in enumerate(_SERVICES.items(), start=10):
            aws.lb.ListenerRule(
                f"{name}-{service}-rule",
                listener_arn=listener.arn,
                priority=priority,
                conditions=[{"path_pattern": {"values": [path]}}],
                actions=[{"type": "forward", "target_group_arn": target_groups[service].arn}],
                tags=tags,
                opts=child,
            )

        secrets = self._release_secrets(name, args, release, tags, child) if release else {}
        image = aws.ec2.get_ami_output(
            most_recent=True,
            owners=[DEBIAN_OWNER],
            filters=[{"name": "name", "values": ["debian-12-amd64-*"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        groups = {}
        for service, spec in (("api", args.api), ("docs", args.docs)):
            role_secrets = {v: secrets[n] for v, n in self._secret_names(args, service, release).items()}
            profile, user_data = self._host_identity(name, service, args, role_secrets, tags, child)
            groups[service] = self._host_group(
                name, service, spec, args, image.id, profile, user_data, target_groups[service], tags
            )

        ip_set = aws.wafv2.IpSet(
            f"{name}-allow-list",
            scope="REGIONAL",
            ip_address_version="IPV4",
            addresses=list(args.allowed_cidrs),
            tags=tags,
            opts=child,
        )
        web_acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            scope="REGIONAL",
            default_action=_ALLOW,
            rules=waf_rules(placement.prefix, ip_set.arn, args.rate_limit),
            visibility_config=_visibility(f"{placement.prefix}-waf"),
            tags=tags,
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{name}-waf-association", resource_arn=load_balancer.arn, web_acl_arn=web_acl.arn, opts=child
        )
        waf_logs = aws.cloudwatch.LogGroup(
            f"{name}-waf-logs",
            name=f"aws-waf-logs-{placement.prefix}",  # WAF only logs to groups named aws-waf-logs-*
            retention_in_days=365,
            kms_key_id=args.keys.key_id,
            tags=tags,
            opts=child,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging",
            resource_arn=web_acl.arn,
            log_destination_configs=[waf_logs.arn],
            opts=child,
        )

        self.native = AwsAppTierNative(
            load_balancer=load_balancer, listener=listener, web_acl=web_acl, groups=groups, secrets=secrets
        )
        self.outputs = AppTierOutputs(
            url=pulumi.Output.from_input(f"https://{args.domain}"),
            load_balancer_id=load_balancer.arn,
            firewall_id=web_acl.arn,
        )
        self.register_outputs({"url": f"https://{args.domain}", "albDns": load_balancer.dns_name})

    @staticmethod
    def _secret_names(args: AppTierArgs, service: str, release: ReleaseArgs | None) -> dict[str, str]:
        """Step variable -> Secrets Manager name, for one role's release."""
        if release is None:
            return {}
        prefix = args.placement.prefix
        return {v: aws_release.secret_name(prefix, service, v) for v in release.roles[service].secrets}

    def _release_secrets(
        self, name: str, args: AppTierArgs, release: ReleaseArgs, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> dict[str, aws.secretsmanager.Secret]:
        """Each release secret once in Secrets Manager, encrypted with the platform's key; its value comes from
        the stack's secret config (encrypted in the state too), never from the user data."""
        secrets: dict[str, aws.secretsmanager.Secret] = {}
        for service, delivery in release.roles.items():
            for variable, secret_name in self._secret_names(args, service, release).items():
                if secret_name in secrets:
                    continue  # the TLS pair, shared by both roles
                slug = secret_name.removeprefix(f"{args.placement.prefix}/").replace("/", "-").replace("_", "-")
                secret = aws.secretsmanager.Secret(
                    f"{name}-{slug.lower()}",
                    name=secret_name,
                    kms_key_id=args.keys.key_id,
                    recovery_window_in_days=SECRET_RECOVERY_DAYS,
                    description=f"release secret {variable}, read at boot by the hosts of its role",
                    tags=tags,
                    opts=child,
                )
                aws.secretsmanager.SecretVersion(
                    f"{name}-{slug.lower()}-value",
                    secret_id=secret.id,
                    secret_string=delivery.secrets[variable](),
                    opts=child,
                )
                secrets[secret_name] = secret
        return secrets

    def _host_identity(
        self,
        name: str,
        service: str,
        args: AppTierArgs,
        secrets: dict[str, aws.secretsmanager.Secret],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[aws.iam.InstanceProfile, pulumi.Output[str] | None]:
        """One role per service (least privilege: its own secrets and artifact only) and its user data."""
        role = aws.iam.Role(
            f"{name}-{service}-host-role",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags={**tags, "service": service},
            opts=child,
        )
        # Session Manager instead of SSH: no port 22 open anywhere.
        aws.iam.RolePolicyAttachment(
            f"{name}-{service}-host-ssm",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            opts=child,
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-{service}-host-profile", role=role.name, tags={**tags, "service": service}, opts=child
        )
        release = args.release
        if release is None:
            return profile, None
        placement = args.placement
        region = placement.region
        delivery = release.roles[service]
        bucket, key = aws_release.check_store(
            service, delivery.artifact, bucket_name(placement.prefix, "documents", region)
        )
        variables = sorted(secrets)
        arns = pulumi.Output.all(*(secrets[v].arn for v in variables))
        aws.iam.RolePolicy(
            f"{name}-{service}-host-release-read",
            role=role.id,
            policy=pulumi.Output.all(arns, args.keys.key_id).apply(
                lambda values: aws_release.read_policy(region, values[0], bucket, key, values[1])
            ),
            opts=child,
        )
        port = _SERVICES[service][1]

        def render(values: list[str]) -> str:
            by_variable = dict(zip(variables, values, strict=True))
            document = aws_release.cloud_config(release.render, service, region, by_variable, bucket, key, port)
            return base64.b64encode(document.encode()).decode()

        return profile, arns.apply(render)

    def _host_group(
        self,
        name: str,
        service: str,
        spec: HostGroupSpec,
        args: AppTierArgs,
        image_id: pulumi.Output[str],
        profile: aws.iam.InstanceProfile,
        user_data: pulumi.Output[str] | None,
        target_group: aws.lb.TargetGroup,
        tags: dict[str, str],
    ) -> aws.autoscaling.Group:
        child = pulumi.ResourceOptions(parent=self)
        template = aws.ec2.LaunchTemplate(
            f"{name}-{service}-template",
            image_id=image_id,
            instance_type=spec.size,
            iam_instance_profile={"arn": profile.arn},
            user_data=user_data,  # base64 #cloud-config: the release step, secrets only by ARN
            vpc_security_group_ids=[args.network.firewall_ids["app"]],
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled", "http_put_response_hop_limit": 1},
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "encrypted": "true",
                        "kms_key_id": args.keys.key_id,
                        "volume_size": 30,
                        "volume_type": "gp3",
                        "delete_on_termination": "true",
                    },
                }
            ],
            monitoring={"enabled": True},
            ebs_optimized="true",
            tag_specifications=[
                {"resource_type": "instance", "tags": {**tags, "service": service}},
                {"resource_type": "volume", "tags": {**tags, "service": service}},
            ],
            tags={**tags, "service": service},
            opts=child,
        )
        return aws.autoscaling.Group(
            f"{name}-{service}-asg",
            min_size=spec.min,
            max_size=spec.max,
            desired_capacity=spec.min,
            vpc_zone_identifiers=list(args.network.app_subnet_ids),
            # A new template version (a new release) starts an instance refresh: one host at a time (launched
            # before the old one goes), each gated by the target group's health check; a failure rolls back.
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {
                    "min_healthy_percentage": 100,
                    "max_healthy_percentage": one_extra_host_percentage(spec.max),
                    "instance_warmup": "120",
                    "auto_rollback": True,
                    "skip_matching": True,
                },
            },
            target_group_arns=[target_group.arn],
            health_check_type="ELB",
            health_check_grace_period=300,
            tags=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in {**tags, "service": service}.items()],
            opts=child,
        )
