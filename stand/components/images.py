"""The VM image of the stand: Ubuntu 24.04 LTS (gen2, Trusted Launch capable), patched at deploy time."""

from __future__ import annotations

from pulumi_azure_native import compute


def ubuntu_lts() -> compute.ImageReferenceArgs:
    return compute.ImageReferenceArgs(publisher="Canonical", offer="ubuntu-24_04-lts", sku="server", version="latest")


def linux_ssh_only(admin_username: str, ssh_public_key: str) -> compute.LinuxConfigurationArgs:
    """Password login disabled: the only way in is the operators' SSH key."""
    return compute.LinuxConfigurationArgs(
        disable_password_authentication=True,
        ssh=compute.SshConfigurationArgs(
            public_keys=[
                compute.SshPublicKeyArgs(key_data=ssh_public_key, path=f"/home/{admin_username}/.ssh/authorized_keys")
            ]
        ),
        provision_vm_agent=True,
    )


def trusted_launch() -> compute.SecurityProfileArgs:
    """Secure boot and vTPM, and encryption at host: temp disks and disk caches are encrypted too, not only
    the managed disks (needs the subscription feature Microsoft.Compute/EncryptionAtHost registered)."""
    return compute.SecurityProfileArgs(
        encryption_at_host=True,
        security_type="TrustedLaunch",
        uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
    )
