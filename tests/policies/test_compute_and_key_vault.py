"""Host and Key Vault rules: a compliant resource passes, each violation is caught."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from opcloud.policies.model import SECRET, UNKNOWN, Enforcement
from opcloud.policies.rules.compute_hardening import (
    autoscaling_hardening,
    host_disks_encrypted,
    host_os_patching,
    host_ssh_keys_only,
    instance_metadata_v2,
    launch_template_hardening,
    no_secrets_in_user_data,
)
from opcloud.policies.rules.key_vault import (
    key_hardening,
    key_vault_private,
    key_vault_recoverable,
    key_vault_secret_expiry,
)

from tests.policies.conftest import IE_AZURE, make, run, verdict

TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
VAULT = "azure-native:keyvault:Vault"
SSH = {"disablePasswordAuthentication": True, "provisionVMAgent": True, "ssh": {"publicKeys": [{"keyData": "k"}]}}


def _vmss(**profile: object) -> dict:
    return {"virtualMachineProfile": {"osProfile": {"linuxConfiguration": SSH}, **profile}}


def test_imdsv2_with_one_hop() -> None:
    good = {"httpTokens": "required", "httpPutResponseHopLimit": 1, "httpEndpoint": "enabled"}
    assert verdict(instance_metadata_v2, make(TEMPLATE, "lt", metadataOptions=good)) is True
    assert (
        verdict(instance_metadata_v2, make(TEMPLATE, "lt", metadataOptions={**good, "httpTokens": "optional"})) is False
    )
    assert (
        verdict(instance_metadata_v2, make(TEMPLATE, "lt", metadataOptions={**good, "httpPutResponseHopLimit": 2}))
        is False
    )
    assert verdict(instance_metadata_v2, make(TEMPLATE, "lt")) is False


def test_host_disks_encrypted() -> None:
    ebs = {"encrypted": "true", "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k"}
    assert verdict(host_disks_encrypted, make(TEMPLATE, "lt", blockDeviceMappings=[{"ebs": ebs}])) is True
    plain = {"encrypted": "false"}
    assert verdict(host_disks_encrypted, make(TEMPLATE, "lt", blockDeviceMappings=[{"ebs": plain}])) is False
    assert verdict(host_disks_encrypted, make(TEMPLATE, "lt")) is False
    at_host = _vmss(securityProfile={"encryptionAtHost": True})
    assert verdict(host_disks_encrypted, make(VMSS, "s", **at_host), context=IE_AZURE) is True
    assert verdict(host_disks_encrypted, make(VMSS, "s", **_vmss()), context=IE_AZURE) is False
    vhd = {"osDisk": {"vhd": {"uri": "https://account.blob.core.windows.net/vhds/os.vhd"}}}
    unmanaged = make(
        "azure-native:compute:VirtualMachine", "vm", storageProfile=vhd, securityProfile={"encryptionAtHost": True}
    )
    assert verdict(host_disks_encrypted, unmanaged, context=IE_AZURE) is False
    vm = make("azure-native:compute:VirtualMachine", "vm", securityProfile={"securityType": "TrustedLaunch"})
    assert verdict(host_disks_encrypted, vm, context=IE_AZURE) is False


def test_ssh_keys_only_and_patching() -> None:
    upgrades = {"automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}
    good = make(VMSS, "s", upgradePolicy=upgrades, **_vmss())
    assert verdict(host_ssh_keys_only, good, context=IE_AZURE) is True
    assert verdict(host_os_patching, good, context=IE_AZURE) is True
    passwords = {"virtualMachineProfile": {"osProfile": {"adminPassword": "x", "linuxConfiguration": SSH}}}
    assert verdict(host_ssh_keys_only, make(VMSS, "s", **passwords), context=IE_AZURE) is False
    no_keys = {"virtualMachineProfile": {"osProfile": {"linuxConfiguration": {"disablePasswordAuthentication": False}}}}
    assert verdict(host_ssh_keys_only, make(VMSS, "s", **no_keys), context=IE_AZURE) is False
    manual = make(VMSS, "s", upgradePolicy={"mode": "Manual"}, **_vmss())
    assert verdict(host_os_patching, manual, context=IE_AZURE) is False
    assert verdict(host_os_patching, manual, context=replace(IE_AZURE, environment="qa")) is None


def test_no_credentials_in_user_data() -> None:
    boot = base64.b64encode(b"#cloud-config\nruncmd: [echo SECRETS=admin-password=jenkins-admin-password]").decode()
    assert verdict(no_secrets_in_user_data, make(TEMPLATE, "lt", userData=boot)) is True
    key = base64.b64encode(b"write_files:\n- content: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    b3Bl").decode()
    assert verdict(no_secrets_in_user_data, make(TEMPLATE, "lt", userData=key)) is False
    aws_key = base64.b64encode(b"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE").decode()
    assert verdict(no_secrets_in_user_data, make(TEMPLATE, "lt", userData=aws_key)) is False
    conn = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + "A" * 86 + "=="
    custom = {"virtualMachineProfile": {"osProfile": {"customData": base64.b64encode(conn.encode()).decode()}}}
    assert verdict(no_secrets_in_user_data, make(VMSS, "s", **custom), context=IE_AZURE) is False


def _release_extension(protected: Any) -> dict[str, Any]:
    extension = {"name": "release", "type": "CustomScript", "protectedSettings": protected}
    return {"virtualMachineProfile": {"osProfile": {}, "extensionProfile": {"extensions": [extension]}}}


def test_no_credentials_in_a_scale_set_release_extension() -> None:
    """The release script in a CustomScript extension's protected settings is user data by another name, and the
    files it writes (base64 inside the script) are read too."""
    key = "-----BEGIN PRIVATE KEY-----\nMIGHkey\n-----END PRIVATE KEY-----\n"
    wrapped = base64.encodebytes((key * 3).encode()).decode()
    script = f"#!/bin/bash\nput_file /etc/x 0600 root:root <<'EOF'\n{wrapped}EOF\n"
    encoded = base64.b64encode(script.encode()).decode()
    leaky = make(VMSS, "s", **_release_extension({"script": encoded}))
    assert verdict(no_secrets_in_user_data, leaky, context=IE_AZURE) is False
    clean = base64.b64encode(b"#!/bin/bash\nTLS_KEY=$(vault_secret https://kv/secrets/tls-key)\n").decode()
    assert verdict(no_secrets_in_user_data, make(VMSS, "s", **_release_extension({"script": clean})),
                   context=IE_AZURE) is True  # fmt: skip
    # Neither a pass nor a violation when the script is not there to read: the rule is then INCOMPLETE.
    for unreadable in (UNKNOWN, {"script": SECRET}):
        resource = make(VMSS, "s", **_release_extension(unreadable))
        [finding] = run(no_secrets_in_user_data, resource, context=IE_AZURE)
        assert not finding.evaluated and not finding.ok, finding


def test_launch_templates_and_auto_scaling() -> None:
    profile = {"arn": "arn:aws:iam::1:instance-profile/p"}
    good = make(TEMPLATE, "lt", iamInstanceProfile=profile, monitoring={"enabled": True}, ebsOptimized="true")
    assert verdict(launch_template_hardening, good) is True
    no_profile = make(TEMPLATE, "lt", monitoring={"enabled": True}, ebsOptimized="true")
    assert verdict(launch_template_hardening, no_profile) is False
    not_optimised = make(TEMPLATE, "lt", iamInstanceProfile=profile, monitoring={"enabled": True})
    assert verdict(launch_template_hardening, not_optimised) is False
    asg = "aws:autoscaling/group:Group"
    tags = [{"key": "owner", "value": "o", "propagateAtLaunch": True}]
    healthy = make(asg, "g", launchTemplate={"id": "lt-id"}, targetGroupArns=["tg"], healthCheckType="ELB", tags=tags)
    assert verdict(autoscaling_hardening, healthy) is True
    ec2_checks = make(
        asg, "g", launchTemplate={"id": "lt-id"}, targetGroupArns=["tg"], healthCheckType="EC2", tags=tags
    )
    assert verdict(autoscaling_hardening, ec2_checks) is False
    kept_tags = [{"key": "owner", "value": "o", "propagateAtLaunch": False}]
    assert verdict(autoscaling_hardening, make(asg, "g", launchTemplate={"id": "x"}, tags=kept_tags)) is False


def test_platform_key_vault_is_private() -> None:
    closed = {"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny", "ipRules": []}}
    vault = make(VAULT, "kv", vaultName="kv", properties=closed)
    endpoint = make(
        "azure-native:network:PrivateEndpoint", "pe", privateLinkServiceConnections=[{"privateLinkServiceId": "kv-id"}]
    )
    assert verdict(key_vault_private, vault, endpoint, context=IE_AZURE) is True
    vnet = make("azure-native:network:VirtualNetwork", "vnet", location="northeurope")
    assert verdict(key_vault_private, vault, vnet, context=IE_AZURE) is False  # no private endpoint
    geo = make(VAULT, "geo-kv", vaultName="geo-kv", location="westeurope", properties=closed)
    assert verdict(key_vault_private, geo, vnet, context=IE_AZURE) is True  # no network of the stack there
    with_ips = {
        "publicNetworkAccess": "Enabled",
        "networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "192.0.2.0/28"}]},
    }
    assert verdict(key_vault_private, make(VAULT, "kv", properties=with_ips), endpoint, context=IE_AZURE) is False
    stand = replace(IE_AZURE, program="test-stand")
    subnets = {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Deny", "virtualNetworkRules": [{}]}}
    assert verdict(key_vault_private, make(VAULT, "kv", properties=subnets), context=stand) is True
    assert verdict(key_vault_private, make(VAULT, "kv", properties=with_ips), context=stand) is False


def test_vault_recoverable_and_keys_expire_in_an_hsm() -> None:
    safe = {"enableSoftDelete": True, "enablePurgeProtection": True}
    assert verdict(key_vault_recoverable, make(VAULT, "kv", properties=safe), context=IE_AZURE) is True
    purgeable = {"enableSoftDelete": True, "enablePurgeProtection": False}
    assert verdict(key_vault_recoverable, make(VAULT, "kv", properties=purgeable), context=IE_AZURE) is False
    key = "azure-native:keyvault:Key"
    hsm = {"kty": "RSA-HSM", "rotationPolicy": {"attributes": {"expiryTime": "P395D"}}}
    assert verdict(key_hardening, make(key, "k", properties=hsm), context=IE_AZURE) is True
    assert verdict(key_hardening, make(key, "k", properties={"kty": "RSA-HSM"}), context=IE_AZURE) is False
    software = {**hsm, "kty": "RSA"}
    assert verdict(key_hardening, make(key, "k", properties=software), context=IE_AZURE) is False
    qa = replace(IE_AZURE, environment="qa")
    assert verdict(key_hardening, make(key, "k", properties=software), context=qa) is True  # HSM: production only


def test_secret_expiry_is_advisory_and_never_passes_unseen() -> None:
    assert key_vault_secret_expiry.enforcement is Enforcement.ADVISORY
    secret = "azure-native:keyvault:Secret"
    good = {"value": SECRET, "contentType": "text/plain", "attributes": {"expires": 1777917600}}
    assert verdict(key_vault_secret_expiry, make(secret, "s", properties=good), context=IE_AZURE) is True
    forever = {"value": SECRET, "contentType": "text/plain", "attributes": {"enabled": True}}
    assert verdict(key_vault_secret_expiry, make(secret, "s", properties=forever), context=IE_AZURE) is False
    masked = run(key_vault_secret_expiry, make(secret, "s", properties=SECRET), context=IE_AZURE)
    assert len(masked) == 1 and not masked[0].evaluated and not masked[0].violation  # INCOMPLETE, never a pass
    none = run(key_vault_secret_expiry, make("azure-native:keyvault:Vault", "kv"), context=IE_AZURE)
    assert [(f.ok, f.message) for f in none] == [(True, "no Key Vault secrets in the stack")]
