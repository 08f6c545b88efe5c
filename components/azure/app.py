"""App tier on Azure: API and document-service scale sets behind an Application Gateway v2 with a WAF.

The gateway is the only thing with a public IP; it listens on 443 only (no port 80 listener at all), with a
Key Vault certificate and a TLS 1.2+ policy. Its WAF policy runs in Prevention mode with the OWASP rule
set, blocks every client outside `allowed_cidrs` and rate-limits each client IP. The scale sets sit in the
app subnet without public IPs, encrypt at host, take OS upgrades automatically and log in with Entra ID.
A new model (a new release, a new OS image) rolls one host at a time behind the health extension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from opcloud.components import naming
from opcloud.components.azure import keys as azure_keys
from opcloud.components.azure import network as azure_network
from opcloud.components.azure import release as azure_release
from opcloud.components.azure import rolling
from opcloud.components.azure._common import ROLE_SECRETS_USER, resource_group, role_definition_id, tags
from opcloud.components.interfaces import AppTierArgs, AppTierOutputs, HostGroupSpec, ReleaseArgs
from pulumi_azure_native import authorization, compute, keyvault, managedidentity, monitor, network

from opcloud.errors import InputError

HTTPS_PORT = 443
OWASP_VERSION = "3.2"
DOCUMENTS_PATHS = ["/documents", "/documents/*"]
HEALTH_PATH = "/healthz"  # without a release
ADMIN_USER = "opcloud"
IMAGE = compute.ImageReferenceArgs(
    publisher="Canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts-gen2", version="latest"
)


def waf_custom_rules(allowed_cidrs: list[str], rate_limit: int) -> list[network.WebApplicationFirewallCustomRuleArgs]:
    """Block every client outside the allow-list, then rate-limit each allowed client IP per 5 minutes."""
    remote = [network.MatchVariableArgs(variable_name="RemoteAddr")]
    return [
        network.WebApplicationFirewallCustomRuleArgs(
            name="BlockOutsideAllowList",
            priority=1,
            rule_type="MatchRule",
            action="Block",
            state="Enabled",
            match_conditions=[
                network.MatchConditionArgs(
                    match_variables=remote, operator="IPMatch", negation_conditon=True, match_values=allowed_cidrs
                )
            ],
        ),
        network.WebApplicationFirewallCustomRuleArgs(
            name="RateLimitPerClient",
            priority=2,
            rule_type="RateLimitRule",
            action="Block",
            state="Enabled",
            rate_limit_duration="FiveMins",
            rate_limit_threshold=rate_limit,
            group_by_user_session=[
                network.GroupByUserSessionArgs(
                    group_by_variables=[network.GroupByVariableArgs(variable_name="ClientAddr")]
                )
            ],
            match_conditions=[
                network.MatchConditionArgs(match_variables=remote, operator="IPMatch", match_values=allowed_cidrs)
            ],
        ),
    ]


def gateway_health_path(release: ReleaseArgs | None) -> str:
    """The gateway probes both pools with one path: the release's, which both roles must then share."""
    if release is None:
        return HEALTH_PATH
    paths = {role: delivery.health_path for role, delivery in release.roles.items()}
    if len(set(paths.values())) != 1:
        raise InputError(
            f"app.release: the Application Gateway probes one health path, but api has {paths['api']} "
            f"and docs {paths['docs']}"
        )
    return paths["api"]


@dataclass(frozen=True)
class RoleBoot:
    """What one role's scale set runs its release with: its own identity, the reads it was granted, and the
    release extension (new hosts run it at provisioning, existing ones again when it changes)."""

    identity: managedidentity.UserAssignedIdentity
    grants: list[authorization.RoleAssignment]
    extension: compute.VirtualMachineScaleSetExtensionArgs


@dataclass
class AppTierNative:
    gateway: network.ApplicationGateway
    waf_policy: network.WebApplicationFirewallPolicy
    public_ip: network.PublicIPAddress
    gateway_identity: managedidentity.UserAssignedIdentity
    certificate_reader: authorization.RoleAssignment
    scale_sets: dict[str, compute.VirtualMachineScaleSet] = field(default_factory=dict)
    release_secrets: dict[str, keyvault.Secret] = field(default_factory=dict)
    boots: dict[str, RoleBoot] = field(default_factory=dict)
    autoscale: dict[str, monitor.AutoscaleSetting] = field(default_factory=dict)
    diagnostics: monitor.DiagnosticSetting | None = None


class AzureAppTier(pulumi.ComponentResource):
    outputs: AppTierOutputs
    native: AppTierNative

    def __init__(
        self,
        name: str,
        args: AppTierArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        ssh_public_key: pulumi.Input[str],
    ) -> None:
        super().__init__("opcloud:azure:AppTier", name, None, opts)
        placement = args.placement
        keys = azure_keys.require_azure(args.keys)
        net = azure_network.require_azure(args.network)
        rg = resource_group(placement)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        allowed = [str(c) for c in args.allowed_cidrs]
        gateway_name = f"{placement.prefix}-gateway"
        health_path = gateway_health_path(args.release)

        waf = network.WebApplicationFirewallPolicy(
            f"{name}-waf",
            resource_group_name=rg,
            location=placement.region,
            policy_name=f"{placement.prefix}-waf".replace("-", ""),
            policy_settings=network.PolicySettingsArgs(
                state="Enabled", mode="Prevention", request_body_check=True, max_request_body_size_in_kb=128
            ),
            managed_rules=network.ManagedRulesDefinitionArgs(
                managed_rule_sets=[network.ManagedRuleSetArgs(rule_set_type="OWASP", rule_set_version=OWASP_VERSION)]
            ),
            custom_rules=waf_custom_rules(allowed, args.rate_limit),
            tags=tags(placement),
            opts=child,
        )
        public_ip = network.PublicIPAddress(
            f"{name}-gateway-ip",
            resource_group_name=rg,
            location=placement.region,
            public_ip_address_name=f"{gateway_name}-ip",
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            zones=["1", "2", "3"],
            tags=tags(placement),
            opts=child,
        )
        gateway_identity = managedidentity.UserAssignedIdentity(
            f"{name}-gateway-identity",
            resource_group_name=rg,
            location=placement.region,
            resource_name_=f"{gateway_name}-identity",
            tags=tags(placement),
            opts=child,
        )
        # The gateway reads its TLS certificate from the vault: secrets-read on that vault, nothing more.
        certificate_reader = authorization.RoleAssignment(
            f"{name}-certificate-reader",
            scope=keys.vault_id,
            principal_id=gateway_identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(client.subscription_id, ROLE_SECRETS_USER),
            description="application gateway reads its TLS certificate",
            opts=child,
        )

        gateway_id = pulumi.Output.concat(
            "/subscriptions/",
            client.subscription_id,
            "/resourceGroups/",
            rg,
            "/providers/Microsoft.Network/applicationGateways/",
            gateway_name,
        )

        def ref(kind: str, item: str) -> network.SubResourceArgs:
            return network.SubResourceArgs(id=pulumi.Output.concat(gateway_id, f"/{kind}/{item}"))

        https = network.ApplicationGatewayBackendHttpSettingsArgs(
            name="https-backend",
            port=HTTPS_PORT,
            protocol="Https",
            host_name=args.domain,
            request_timeout=60,
            cookie_based_affinity="Disabled",
            probe=ref("probes", "health"),
        )
        gateway = network.ApplicationGateway(
            f"{name}-gateway",
            resource_group_name=rg,
            location=placement.region,
            application_gateway_name=gateway_name,
            sku=network.ApplicationGatewaySkuArgs(name="WAF_v2", tier="WAF_v2"),
            autoscale_configuration=network.ApplicationGatewayAutoscaleConfigurationArgs(
                min_capacity=2, max_capacity=10
            ),
            zones=["1", "2", "3"],
            identity=network.ManagedServiceIdentityArgs(
                type=network.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[gateway_identity.id]
            ),
            firewall_policy=network.SubResourceArgs(id=waf.id),
            force_firewall_policy_association=True,
            enable_http2=True,
            gateway_ip_configurations=[
                network.ApplicationGatewayIPConfigurationArgs(
                    name="gateway-ip", subnet=network.SubResourceArgs(id=net.public_subnet_ids[0])
                )
            ],
            frontend_ip_configurations=[
                network.ApplicationGatewayFrontendIPConfigurationArgs(
                    name="public", public_ip_address=network.SubResourceArgs(id=public_ip.id)
                )
            ],
            # Only 443: with no port 80 listener, nothing is ever served in clear text.
            frontend_ports=[network.ApplicationGatewayFrontendPortArgs(name="https", port=HTTPS_PORT)],
            ssl_certificates=[
                network.ApplicationGatewaySslCertificateArgs(name="tls", key_vault_secret_id=args.certificate)
            ],
            ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                policy_type="Predefined",
                policy_name="AppGwSslPolicy20220101S",  # TLS 1.2 minimum, strong ciphers
            ),
            http_listeners=[
                network.ApplicationGatewayHttpListenerArgs(
                    name="https",
                    protocol="Https",
                    host_name=args.domain,
                    require_server_name_indication=True,
                    frontend_ip_configuration=ref("frontendIPConfigurations", "public"),
                    frontend_port=ref("frontendPorts", "https"),
                    ssl_certificate=ref("sslCertificates", "tls"),
                )
            ],
            backend_address_pools=[
                network.ApplicationGatewayBackendAddressPoolArgs(name="api"),
                network.ApplicationGatewayBackendAddressPoolArgs(name="docs"),
            ],
            backend_http_settings_collection=[https],
            probes=[
                network.ApplicationGatewayProbeArgs(
                    name="health",
                    protocol="Https",
                    host=args.domain,
                    path=health_path,
                    interval=30,
                    timeout=30,
                    unhealthy_threshold=3,
                )
            ],
            url_path_maps=[
                network.ApplicationGatewayUrlPathMapArgs(
                    name="paths",
                    default_backend_address_pool=ref("backendAddressPools", "api"),
                    default_backend_http_settings=ref("backendHttpSettingsCollection", "https-backend"),
                    path_rules=[
                        network.ApplicationGatewayPathRuleArgs(
                            name="documents",
                            paths=DOCUMENTS_PATHS,
                            backend_address_pool=ref("backendAddressPools", "docs"),
                            backend_http_settings=ref("backendHttpSettingsCollection", "https-backend"),
                        )
                    ],
                )
            ],
            request_routing_rules=[
                network.ApplicationGatewayRequestRoutingRuleArgs(
                    name="https",
                    rule_type="PathBasedRouting",
                    priority=100,
                    http_listener=ref("httpListeners", "https"),
                    url_path_map=ref("urlPathMaps", "paths"),
                )
            ],
            tags=tags(placement),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[certificate_reader]),
        )

        self.native = AppTierNative(gateway, waf, public_ip, gateway_identity, certificate_reader)
        if args.release is not None:
            self.native.release_secrets = self._release_secrets(name, args, args.release, keys, rg)
            for role in ("api", "docs"):
                self.native.boots[role] = self._boot(name, role, args, args.release, keys, client, rg)
        for role, spec in (("api", args.api), ("docs", args.docs)):
            pool = pulumi.Output.concat(gateway.id, f"/backendAddressPools/{role}")
            scale_set = self._scale_set(
                name, role, spec, args, net.app_subnet_ids[0], pool, ssh_public_key, rg, self.native.boots.get(role)
            )
            self.native.scale_sets[role] = scale_set
            self.native.autoscale[role] = self._autoscale(name, role, spec, args, scale_set, rg)

        if args.log_target is not None:
            self.native.diagnostics = monitor.DiagnosticSetting(
                f"{name}-gateway-diagnostics",
                name=f"{placement.prefix}-gateway-audit",
                resource_uri=gateway.id,
                workspace_id=args.log_target,
                logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
                opts=child,
            )

        self.outputs = AppTierOutputs(
            url=pulumi.Output.from_input(f"https://{args.domain}"),
            load_balancer_id=gateway.id,
            firewall_id=waf.id,
        )
        self.register_outputs({"url": self.outputs.url, "gatewayId": gateway.id, "wafId": waf.id})

    def _scale_set(
        self,
        name: str,
        role: str,
        spec: HostGroupSpec,
        args: AppTierArgs,
        subnet_id: pulumi.Input[str],
        pool_id: pulumi.Input[str],
        ssh_key: pulumi.Input[str],
        rg: str,
        boot: RoleBoot | None,
    ) -> compute.VirtualMachineScaleSet:
        placement = args.placement
        release = args.release
        health_path = release.roles[role].health_path if release else HEALTH_PATH
        # The system identity stays (Entra SSH login); the role's own identity reads its release at boot.
        identity = (
            compute.VirtualMachineScaleSetIdentityArgs(
                type=compute.ResourceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED,
                user_assigned_identities=[boot.identity.id],
            )
            if boot
            else compute.VirtualMachineScaleSetIdentityArgs(type=compute.ResourceIdentityType.SYSTEM_ASSIGNED)
        )
        return compute.VirtualMachineScaleSet(
            f"{name}-{role}",
            resource_group_name=rg,
            location=placement.region,
            vm_scale_set_name=f"{placement.prefix}-{role}",
            sku=compute.SkuArgs(name=spec.size, tier="Standard", capacity=spec.min),
            zones=["1", "2", "3"],
            zone_balance=True,
            overprovision=False,
            identity=identity,
            # A changed model (the release extension, an OS image) rolls one host per batch, each gated by
            # the health extension; the first unhealthy upgraded host stops the roll and is rolled back.
            upgrade_policy=compute.UpgradePolicyArgs(
                mode=compute.UpgradeMode.ROLLING,
                rolling_upgrade_policy=rolling.rolling_upgrade_policy(role, spec.min, spec.max),
                automatic_os_upgrade_policy=compute.AutomaticOSUpgradePolicyArgs(
                    enable_automatic_os_upgrade=True, disable_automatic_rollback=False
                ),
            ),
            virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
                security_profile=compute.SecurityProfileArgs(
                    encryption_at_host=True,
                    security_type="TrustedLaunch",
                    uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
                ),
                storage_profile=compute.VirtualMachineScaleSetStorageProfileArgs(
                    image_reference=IMAGE,
                    os_disk=compute.VirtualMachineScaleSetOSDiskArgs(
                        create_option="FromImage",
                        caching=compute.CachingTypes.READ_WRITE,
                        delete_option="Delete",
                        managed_disk=compute.VirtualMachineScaleSetManagedDiskParametersArgs(
                            storage_account_type="Premium_LRS"
                        ),
                    ),
                ),
                os_profile=compute.VirtualMachineScaleSetOSProfileArgs(
                    computer_name_prefix=f"{role}-",
                    admin_username=ADMIN_USER,
                    # No custom data: the release extension is the one way a release reaches a host, new or old.
                    linux_configuration=compute.LinuxConfigurationArgs(
                        disable_password_authentication=True,
                        provision_vm_agent=True,
                        ssh=compute.SshConfigurationArgs(
                            public_keys=[
                                compute.SshPublicKeyArgs(
                                    path=f"/home/{ADMIN_USER}/.ssh/authorized_keys", key_data=ssh_key
                                )
                            ]
                        ),
                    ),
                ),
                network_profile=compute.VirtualMachineScaleSetNetworkProfileArgs(
                    network_interface_configurations=[
                        compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                            name=f"{role}-nic",
                            primary=True,
                            enable_accelerated_networking=True,
                            ip_configurations=[
                                compute.VirtualMachineScaleSetIPConfigurationArgs(
                                    name=f"{role}-ip",
                                    primary=True,
                                    subnet=compute.ApiEntityReferenceArgs(id=subnet_id),
                                    application_gateway_backend_address_pools=[compute.SubResourceArgs(id=pool_id)],
                                    # no public_ip_address_configuration: reachable only through the gateway
                                )
                            ],
                        )
                    ]
                ),
                extension_profile=compute.VirtualMachineScaleSetExtensionProfileArgs(
                    extensions=[
                        *([boot.extension] if boot else []),
                        # Rolling upgrades (release and OS image) go on only while this health signal stays green;
                        # it is probed once the release step has run.
                        compute.VirtualMachineScaleSetExtensionArgs(
                            name="health",
                            publisher="Microsoft.ManagedServices",
                            type="ApplicationHealthLinux",
                            type_handler_version="2.0",
                            auto_upgrade_minor_version=True,
                            settings={"protocol": "https", "port": HTTPS_PORT, "requestPath": health_path},
                            provision_after_extensions=[azure_release.EXTENSION_NAME] if boot else None,
                        ),
                        compute.VirtualMachineScaleSetExtensionArgs(
                            name="entra-ssh-login",
                            publisher="Microsoft.Azure.ActiveDirectory",
                            type="AADSSHLoginForLinux",
                            type_handler_version="1.0",
                            auto_upgrade_minor_version=True,
                        ),
                    ]
                ),
            ),
            tags=tags(placement, role=role),
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["virtualMachineProfile.osProfile.linuxConfiguration.ssh"],
                # A host boots only once it may read its secrets and artifact.
                depends_on=[*boot.grants, *self.native.release_secrets.values()] if boot else [],
            ),
        )

    def _release_secrets(
        self, name: str, args: AppTierArgs, release: ReleaseArgs, keys: azure_keys.AzureKeysOutputs, rg: str
    ) -> dict[str, keyvault.Secret]:
        """Each release secret once in the platform's vault (which holds its key); the value comes from the
        stack's secret config (encrypted in the state too), never from the custom data."""
        vault_name = naming.key_vault_name(args.placement.prefix)
        secrets: dict[str, keyvault.Secret] = {}
        for role, delivery in release.roles.items():
            for variable, value in delivery.secrets.items():
                secret_name = azure_release.secret_name(role, variable)
                if secret_name in secrets:
                    continue  # the TLS pair, shared by both roles
                secrets[secret_name] = keyvault.Secret(
                    f"{name}-{secret_name}",
                    resource_group_name=rg,
                    vault_name=vault_name,
                    secret_name=secret_name,
                    properties=keyvault.SecretPropertiesArgs(
                        value=value(),
                        content_type="application/x-pem-file" if variable.startswith("TLS_") else "text/plain",
                    ),
                    # The TLS pair serves both roles.
                    tags=tags(args.placement, role="api+docs" if variable.startswith("TLS_") else role),
                    opts=pulumi.ResourceOptions(parent=self),
                )
        return secrets

    def _boot(
        self,
        name: str,
        role: str,
        args: AppTierArgs,
        release: ReleaseArgs,
        keys: azure_keys.AzureKeysOutputs,
        client: pulumi.Output[authorization.GetClientConfigResult],
        rg: str,
    ) -> RoleBoot:
        """The role's identity, granted read on exactly its secrets and its one artifact blob, and its release
        extension."""
        placement = args.placement
        child = pulumi.ResourceOptions(parent=self)
        delivery = release.roles[role]
        account = naming.storage_account_name(placement.prefix, "docs")
        container, blob = azure_release.blob_location(role, delivery.artifact, account)
        vault_name = naming.key_vault_name(placement.prefix)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-{role}-identity",
            resource_group_name=rg,
            location=placement.region,
            resource_name_=f"{placement.prefix}-{role}-identity",
            tags=tags(placement, role=role),
            opts=child,
        )
        assert keys.vault_id is not None
        grants = []
        for variable in sorted(delivery.secrets):
            secret_name = azure_release.secret_name(role, variable)
            grants.append(
                authorization.RoleAssignment(
                    f"{name}-{role}-reads-{secret_name}",
                    scope=pulumi.Output.concat(keys.vault_id, "/secrets/", secret_name),
                    principal_id=identity.principal_id,
                    principal_type="ServicePrincipal",
                    role_definition_id=role_definition_id(client.subscription_id, ROLE_SECRETS_USER),
                    description=f"{role} hosts read the release secret {secret_name}",
                    opts=child,
                )
            )
        grants.append(
            authorization.RoleAssignment(
                f"{name}-{role}-reads-artifact",
                scope=pulumi.Output.concat(
                    "/subscriptions/",
                    client.subscription_id,
                    f"/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}",
                    f"/blobServices/default/containers/{container}",
                ),
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(client.subscription_id, azure_release.ROLE_BLOB_DATA_READER),
                condition=azure_release.blob_read_condition(container, blob),
                condition_version="2.0",
                description=f"{role} hosts read their release artifact {blob}",
                opts=child,
            )
        )
        def protected(client_id: str) -> dict[str, str]:
            script = azure_release.release_script(
                release.render_script, role, vault_name, sorted(delivery.secrets), client_id, HTTPS_PORT
            )
            return azure_release.protected_settings(script)

        extension = compute.VirtualMachineScaleSetExtensionArgs(
            name=azure_release.EXTENSION_NAME,
            publisher=azure_release.EXTENSION_PUBLISHER,
            type=azure_release.EXTENSION_TYPE,
            type_handler_version=azure_release.EXTENSION_VERSION,
            auto_upgrade_minor_version=True,
            # The release's identity: a new one changes the model, and the rolling upgrade runs the script again.
            force_update_tag=azure_release.release_identity(role, delivery.version, delivery.sha256),
            protected_settings=identity.client_id.apply(protected),
            suppress_failures=False,  # a failed release fails the host's upgrade, which stops the roll
        )
        return RoleBoot(identity=identity, grants=grants, extension=extension)

    def _autoscale(
        self,
        name: str,
        role: str,
        spec: HostGroupSpec,
        args: AppTierArgs,
        scale_set: compute.VirtualMachineScaleSet,
        rg: str,
    ) -> monitor.AutoscaleSetting:
        placement = args.placement

        def cpu_rule(
            operator: monitor.ComparisonOperationType, threshold: float, direction: monitor.ScaleDirection
        ) -> monitor.ScaleRuleArgs:
            return monitor.ScaleRuleArgs(
                metric_trigger=monitor.MetricTriggerArgs(
                    metric_name="Percentage CPU",
                    metric_resource_uri=scale_set.id,
                    operator=operator,
                    statistic=monitor.MetricStatisticType.AVERAGE,
                    threshold=threshold,
                    time_aggregation=monitor.TimeAggregationType.AVERAGE,
                    time_grain="PT1M",
                    time_window="PT10M",
                ),
                scale_action=monitor.ScaleActionArgs(
                    direction=direction, type=monitor.ScaleType.CHANGE_COUNT, value="1", cooldown="PT10M"
                ),
            )

        return monitor.AutoscaleSetting(
            f"{name}-{role}-autoscale",
            resource_group_name=rg,
            location=placement.region,
            autoscale_setting_name=f"{placement.prefix}-{role}-autoscale",
            enabled=True,
            target_resource_uri=scale_set.id,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="cpu",
                    capacity=monitor.ScaleCapacityArgs(
                        minimum=str(spec.min), maximum=str(spec.max), default=str(spec.min)
                    ),
                    rules=[
                        cpu_rule(monitor.ComparisonOperationType.GREATER_THAN, 70, monitor.ScaleDirection.INCREASE),
                        cpu_rule(monitor.ComparisonOperationType.LESS_THAN, 25, monitor.ScaleDirection.DECREASE),
                    ],
                )
            ],
            tags=tags(placement, role=role),
            opts=pulumi.ResourceOptions(parent=self),
        )
