"""Jenkins agents: a VM scale set that idles at zero instances, with an autoscale setting (min 0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from opcloud.stand.components.images import linux_ssh_only, trusted_launch, ubuntu_lts
from pulumi_azure_native import compute, monitor


@dataclass(frozen=True)
class AgentPoolArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    scale_set_name: str
    size: str
    capacity: int
    maximum: int
    subnet_id: pulumi.Input[str]
    admin_username: str
    ssh_public_key: str
    identity_id: pulumi.Input[str]
    custom_data: pulumi.Input[str]
    tags: Mapping[str, str]


def cpu_rule(scale_set_id: pulumi.Input[str], *, above: bool) -> monitor.ScaleRuleArgs:
    """Busy agents add one more; idle agents go away, down to zero."""
    return monitor.ScaleRuleArgs(
        metric_trigger=monitor.MetricTriggerArgs(
            metric_name="Percentage CPU",
            metric_namespace="microsoft.compute/virtualmachinescalesets",
            metric_resource_uri=scale_set_id,
            operator=(
                monitor.ComparisonOperationType.GREATER_THAN if above else monitor.ComparisonOperationType.LESS_THAN
            ),
            statistic=monitor.MetricStatisticType.AVERAGE,
            threshold=75 if above else 10,
            time_aggregation=monitor.TimeAggregationType.AVERAGE,
            time_grain="PT1M",
            time_window="PT10M" if above else "PT30M",
        ),
        scale_action=monitor.ScaleActionArgs(
            direction=monitor.ScaleDirection.INCREASE if above else monitor.ScaleDirection.DECREASE,
            type=monitor.ScaleType.CHANGE_COUNT,
            value="1",
            cooldown="PT10M",
        ),
    )


class AgentPool(pulumi.ComponentResource):
    scale_set_id: pulumi.Output[str]

    def __init__(self, name: str, args: AgentPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure/testStand:Agents", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        scale_set = compute.VirtualMachineScaleSet(
            f"{name}-vmss",
            vm_scale_set_name=args.scale_set_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=compute.SkuArgs(name=args.size, tier="Standard", capacity=args.capacity),
            orchestration_mode="Uniform",
            overprovision=False,
            upgrade_policy=compute.UpgradePolicyArgs(mode=compute.UpgradeMode.MANUAL),
            identity=compute.VirtualMachineScaleSetIdentityArgs(
                type=compute.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[args.identity_id]
            ),
            virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
                os_profile=compute.VirtualMachineScaleSetOSProfileArgs(
                    computer_name_prefix=args.scale_set_name[:9],
                    admin_username=args.admin_username,
                    linux_configuration=linux_ssh_only(args.admin_username, args.ssh_public_key),
                    custom_data=args.custom_data,
                ),
                storage_profile=compute.VirtualMachineScaleSetStorageProfileArgs(
                    image_reference=ubuntu_lts(),
                    os_disk=compute.VirtualMachineScaleSetOSDiskArgs(
                        create_option="FromImage",
                        caching=compute.CachingTypes.READ_WRITE,
                        managed_disk=compute.VirtualMachineScaleSetManagedDiskParametersArgs(
                            storage_account_type="StandardSSD_LRS"
                        ),
                    ),
                ),
                network_profile=compute.VirtualMachineScaleSetNetworkProfileArgs(
                    network_interface_configurations=[
                        compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                            name="agents",
                            primary=True,
                            ip_configurations=[
                                # No public IP: agents are reached by nobody and go out through the NAT gateway.
                                compute.VirtualMachineScaleSetIPConfigurationArgs(
                                    name="agents",
                                    primary=True,
                                    subnet=compute.ApiEntityReferenceArgs(id=args.subnet_id),
                                )
                            ],
                        )
                    ]
                ),
                security_profile=trusted_launch(),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["sku.capacity"]),  # autoscale owns it
        )
        monitor.AutoscaleSetting(
            f"{name}-autoscale",
            resource_group_name=args.resource_group_name,
            location=args.location,
            target_resource_uri=scale_set.id,
            enabled=True,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="scale-to-zero",
                    capacity=monitor.ScaleCapacityArgs(
                        minimum="0", maximum=str(args.maximum), default=str(args.capacity)
                    ),
                    rules=[cpu_rule(scale_set.id, above=True), cpu_rule(scale_set.id, above=False)],
                )
            ],
            tags=tags,
            opts=child,
        )
        self.scale_set_id = scale_set.id
        self.register_outputs({"scaleSetId": scale_set.id})
