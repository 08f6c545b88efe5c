"""The Jenkins controller VM: public IP with a DNS name, SSH-key login only, managed identity,
cloud-init from `cloud_init.controller_cloud_init`, and an auto-shutdown schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from opcloud.stand.components.images import linux_ssh_only, trusted_launch, ubuntu_lts
from pulumi_azure_native import compute, devtestlab, network


def shutdown_schedule_name(vm_name: str) -> str:
    """Azure only honours an auto-shutdown schedule with exactly this name."""
    return f"shutdown-computevm-{vm_name}"


@dataclass(frozen=True)
class ControllerArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    vm_name: str
    size: str
    disk_gb: int
    subnet_id: pulumi.Input[str]
    private_ip: str  # fixed, so agents know where to connect before the VM exists
    dns_label: str
    admin_username: str
    ssh_public_key: str
    identity_id: pulumi.Input[str]
    custom_data: pulumi.Input[str]  # base64 cloud-config, free of secrets
    shutdown_time: str  # "HHMM"
    shutdown_time_zone: str
    tags: Mapping[str, str]


class JenkinsController(pulumi.ComponentResource):
    vm_id: pulumi.Output[str]
    public_ip: pulumi.Output[str | None]

    def __init__(self, name: str, args: ControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:azure/testStand:Controller", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        public_ip = network.PublicIPAddress(
            f"{name}-ip",
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=network.PublicIPAddressSkuArgs(name="Standard"),  # Standard: closed unless an NSG allows
            public_ip_allocation_method="Static",
            dns_settings=network.PublicIPAddressDnsSettingsArgs(domain_name_label=args.dns_label),
            tags=tags,
            opts=child,
        )
        nic = network.NetworkInterface(
            f"{name}-nic",
            resource_group_name=args.resource_group_name,
            location=args.location,
            ip_configurations=[
                network.NetworkInterfaceIPConfigurationArgs(
                    name="primary",
                    primary=True,
                    subnet=network.SubnetArgs(id=args.subnet_id),
                    private_ip_allocation_method="Static",
                    private_ip_address=args.private_ip,
                    public_ip_address=network.PublicIPAddressArgs(id=public_ip.id),
                )
            ],
            tags=tags,
            opts=child,
        )
        vm = compute.VirtualMachine(
            f"{name}-vm",
            vm_name=args.vm_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            hardware_profile=compute.HardwareProfileArgs(vm_size=args.size),
            identity=compute.VirtualMachineIdentityArgs(
                type=compute.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[args.identity_id]
            ),
            os_profile=compute.OSProfileArgs(
                computer_name=args.vm_name,
                admin_username=args.admin_username,
                linux_configuration=linux_ssh_only(args.admin_username, args.ssh_public_key),
                custom_data=args.custom_data,
            ),
            storage_profile=compute.StorageProfileArgs(
                image_reference=ubuntu_lts(),
                os_disk=compute.OSDiskArgs(
                    create_option="FromImage",
                    disk_size_gb=args.disk_gb,
                    delete_option="Delete",
                    managed_disk=compute.ManagedDiskParametersArgs(storage_account_type="StandardSSD_LRS"),
                ),
            ),
            network_profile=compute.NetworkProfileArgs(
                network_interfaces=[compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True)]
            ),
            security_profile=trusted_launch(),
            diagnostics_profile=compute.DiagnosticsProfileArgs(
                boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True)  # managed storage: serial log for debugging
            ),
            tags=tags,
            opts=child,
        )
        devtestlab.GlobalSchedule(
            f"{name}-shutdown",
            name=shutdown_schedule_name(args.vm_name),
            resource_group_name=args.resource_group_name,
            location=args.location,
            task_type="ComputeVmShutdownTask",
            status="Enabled",
            daily_recurrence=devtestlab.DayDetailsArgs(time=args.shutdown_time),
            time_zone_id=args.shutdown_time_zone,
            target_resource_id=vm.id,
            notification_settings=devtestlab.NotificationSettingsArgs(status="Disabled"),
            tags=tags,
            opts=child,
        )
        self.vm_id = vm.id
        self.public_ip = public_ip.ip_address
        self.register_outputs({"vmId": vm.id, "publicIp": public_ip.ip_address})
