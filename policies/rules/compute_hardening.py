"""Hosts: instance metadata, disk encryption, log-in by key only, patching, user data, auto scaling.

AWS hosts are launch templates behind auto scaling groups; Azure hosts are VMs and scale sets.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_5_23,
    A_8_12,
    A_8_24,
    SECRET,
    UNKNOWN,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
    unevaluated,
)

# Credentials in a recognisable format (private keys, AWS access keys, Azure account keys and SAS signatures).
# Assignments such as `PASSWORD=...` are not guessed at: user data legitimately names the vault secrets it reads.
_SECRET_PATTERNS = (
    re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"AccountKey=[A-Za-z0-9+/=]{40,}"),
    re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{20,}"),
)


def _vm_profile(resource: ResourceView) -> Mapping[str, Any]:
    """The VM settings of a VM or of a scale set's instance template."""
    if resource.type in res.AZ_VMSS:
        profile = resource.get("virtualMachineProfile")
        return profile if isinstance(profile, Mapping) else {}
    return resource.props


@resource_rule(
    name="instance-metadata-v2",
    description="Hosts answer instance metadata only with session tokens (IMDSv2), one network hop away.",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="metadataOptions: httpTokens required, httpPutResponseHopLimit 1.",
    not_applicable={
        "azure": "the Azure instance metadata service needs a Metadata header and is not reachable through a proxy",
        "iaas": "IaaS hosts have no cloud metadata service",
    },
)
def instance_metadata_v2(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in (*res.LAUNCH_TEMPLATE, *res.EC2_INSTANCE):
        return None
    options = resource.get("metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled":
        return [(True, "instance metadata disabled")]
    if options.get("httpTokens") != "required":
        return [(False, "httpTokens is not 'required': IMDSv1 answers without a token")]
    hops = res.number(options.get("httpPutResponseHopLimit"))
    if hops is None or hops > 1:
        return [(False, f"httpPutResponseHopLimit {res.days(hops) if hops else 'unset'}: containers could reach it")]
    return [(True, "IMDSv2 only, hop limit 1")]


@resource_rule(
    name="host-disks-encrypted",
    description="Host disks are encrypted: EBS volumes of launch templates with the stack's KMS key; Azure VMs and "
    "scale sets on managed disks with encryption at host (temp disks and caches too).",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="ebs.encrypted true with kmsKeyId; securityProfile.encryptionAtHost true.",
    not_applicable={"iaas": "IaaS data volumes are LUKS (encryption-at-rest-cmk)"},
)
def host_disks_encrypted(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.LAUNCH_TEMPLATE:
        volumes = [
            m.get("ebs") or {} for m in res.as_list(resource.get("blockDeviceMappings")) if isinstance(m, Mapping)
        ]
        if not volumes:
            return [(False, "no block device mapping: the image's root volume may be unencrypted")]
        bare = [v for v in volumes if not res.truthy(v.get("encrypted")) or not v.get("kmsKeyId")]
        if bare:
            return [(False, f"{len(bare)} volume(s) not encrypted with a customer-managed key")]
        return [(True, "every volume encrypted with the stack's key")]
    if resource.type in res.AZ_VM or resource.type in res.AZ_VMSS:
        profile = _vm_profile(resource)
        if ((profile.get("storageProfile") or {}).get("osDisk") or {}).get("vhd"):
            return [(False, "OS disk is an unmanaged VHD in a storage account")]
        if res.truthy((profile.get("securityProfile") or {}).get("encryptionAtHost")):
            return [(True, "managed disks, encryption at host")]
        return [(False, "securityProfile.encryptionAtHost is not true")]
    return None


@resource_rule(
    name="host-ssh-keys-only",
    description="Linux hosts take SSH keys only: password log-in disabled, no admin password set.",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="linuxConfiguration.disablePasswordAuthentication true with ssh.publicKeys; no adminPassword.",
    not_applicable={
        "aws": "EC2 has no password log-in setting: images take key pairs only",
        "iaas": "IaaS host log-in is managed by the host steps",
    },
)
def host_ssh_keys_only(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in (*res.AZ_VM, *res.AZ_VMSS):
        return None
    os_profile = _vm_profile(resource).get("osProfile") or {}
    linux = os_profile.get("linuxConfiguration") or {}
    if os_profile.get("adminPassword"):
        return [(False, "an admin password is set")]
    if linux.get("disablePasswordAuthentication") is not True:
        return [(False, "password authentication is not disabled")]
    if not res.as_list((linux.get("ssh") or {}).get("publicKeys")):
        return [(False, "no SSH public key")]
    return [(True, "SSH keys only")]


@resource_rule(
    name="host-os-patching",
    description="Production hosts take OS updates automatically (scale sets: automatic OS image upgrades; "
    "VMs: platform-orchestrated patching) with the VM agent installed.",
    control=A_5_23,
    severity=Severity.MEDIUM,
    remediation="upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade true / patchMode "
    "AutomaticByPlatform; provisionVMAgent true.",
    not_applicable={
        "aws": "AWS hosts are replaced from the newest image by the auto scaling groups",
        "iaas": "IaaS hosts are patched by the host steps",
        "non-production": "only production hosts must take OS updates automatically",
    },
)
def host_os_patching(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in (*res.AZ_VM, *res.AZ_VMSS) or not stack.context.production:
        return None
    linux = (_vm_profile(resource).get("osProfile") or {}).get("linuxConfiguration") or {}
    if linux.get("provisionVMAgent") is False:
        return [(False, "the VM agent is not installed")]
    if resource.type in res.AZ_VMSS:
        if res.truthy(resource.get("upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade")):
            return [(True, "automatic OS image upgrades")]
        return [(False, "automatic OS image upgrades are off")]
    if (linux.get("patchSettings") or {}).get("patchMode") == "AutomaticByPlatform":
        return [(True, "platform-orchestrated patching")]
    return [(False, "patchMode is not AutomaticByPlatform")]


def _decoded(value: Any) -> str:
    """User data as text: base64 when it decodes, else as given."""
    text = str(value)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return text


# A base64 block inside a script (a file it writes), one line or wrapped at 76 characters.
_BASE64_BLOCK = re.compile(r"(?:[A-Za-z0-9+/]{4}\n?){16,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _texts(value: Any) -> list[str]:
    """Every string in `value` as text, base64 decoded, and the base64 blocks inside it decoded once more."""
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if not isinstance(value, str):
        return []
    text = _decoded(value)
    return [text, *(_decoded(block.replace("\n", "")) for block in _BASE64_BLOCK.findall(text))]


def _boot_data(resource: ResourceView) -> list[Any]:
    """What a host runs at boot: user data, or an Azure VM's custom data and its scale set's extension settings
    (a script in a CustomScript extension's protected settings is user data by another name)."""
    if resource.type in (*res.LAUNCH_TEMPLATE, *res.EC2_INSTANCE):
        return [resource.get("userData")]
    data = [(_vm_profile(resource).get("osProfile") or {}).get("customData")]
    if resource.type in res.AZ_VMSS:
        profile = _vm_profile(resource).get("extensionProfile") or {}
        for extension in profile.get("extensions") or []:
            if isinstance(extension, Mapping):
                data += [extension.get("settings"), extension.get("protectedSettings")]
    return data


def _holds(value: Any, marker: str) -> bool:
    """Whether `value` or anything in it is `marker` (UNKNOWN, SECRET)."""
    if isinstance(value, Mapping):
        return any(_holds(v, marker) for v in value.values())
    if isinstance(value, list):
        return any(_holds(v, marker) for v in value)
    return value == marker


@resource_rule(
    name="no-secrets-in-user-data",
    description="No recognisable credential (private key, AWS access key, Azure account key or SAS signature) is "
    "written into user data / custom data or a scale set's extension settings, which anyone allowed to read "
    "the instance's settings can read (or the extension's handler decrypts on the host).",
    control=A_8_12,
    severity=Severity.HIGH,
    remediation="Read secrets at boot from Key Vault / Secrets Manager with the host's identity.",
    not_applicable={"iaas": "IaaS hosts get no user data: steps run over SSH"},
)
def no_secrets_in_user_data(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in (*res.LAUNCH_TEMPLATE, *res.EC2_INSTANCE, *res.AZ_VM, *res.AZ_VMSS):
        return None
    data = [d for d in _boot_data(resource) if d]
    if not data:
        return [(True, "no user data")]
    if any(_holds(d, UNKNOWN) for d in data):
        return [pending("the user data")]
    if any(_holds(d, SECRET) for d in data):
        return [unevaluated("the user data is a Pulumi secret here: it could not be read")]
    if any(p.search(text) for d in data for text in _texts(d) for p in _SECRET_PATTERNS):
        return [(False, "user data looks like it holds a credential")]
    return [(True, "no credential in user data")]


@resource_rule(
    name="launch-template-hardening",
    description="Hosts launched from a template carry an instance profile (no static keys) and detailed monitoring.",
    control=A_5_23,
    severity=Severity.MEDIUM,
    remediation="Set iamInstanceProfile, monitoring.enabled true and ebsOptimized true on the launch template.",
    not_applicable={
        "azure": "Azure hosts are judged by the VM rules",
        "iaas": "no launch templates on a VM-only cloud",
    },
)
def launch_template_hardening(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.LAUNCH_TEMPLATE:
        return None
    problems = []
    if not resource.get("iamInstanceProfile.arn") and not resource.get("iamInstanceProfile.name"):
        problems.append("no IAM instance profile")
    if not res.truthy(resource.get("monitoring.enabled")):
        problems.append("detailed monitoring off")
    if not res.truthy(resource.get("ebsOptimized")):
        problems.append("not EBS-optimised")
    return [(not problems, "; ".join(problems) or "instance profile and detailed monitoring")]


@resource_rule(
    name="autoscaling-hardening",
    description="Auto scaling groups launch from launch templates, replace hosts the load balancer finds "
    "unhealthy, and pass their tags on to the hosts.",
    control=A_5_23,
    severity=Severity.MEDIUM,
    remediation="launchTemplate set; healthCheckType ELB when targetGroupArns are set; propagateAtLaunch on tags.",
    not_applicable={
        "azure": "Azure scale sets are judged by the VM rules",
        "iaas": "no auto scaling on a VM-only cloud",
    },
)
def autoscaling_hardening(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AUTOSCALING_GROUP:
        return None
    problems = []
    if not resource.get("launchTemplate") and not resource.get("mixedInstancesPolicy"):
        problems.append("no launch template")
    if (resource.get("targetGroupArns") or resource.get("loadBalancers")) and resource.get("healthCheckType") != "ELB":
        problems.append("behind a load balancer without ELB health checks")
    tags = [t for t in res.as_list(resource.get("tags")) if isinstance(t, Mapping)]
    if not tags or any(not t.get("propagateAtLaunch") for t in tags):
        problems.append("tags not all propagated at launch")
    return [(not problems, "; ".join(problems) or "launch template, ELB health checks, tags propagated")]


RULES = (
    instance_metadata_v2,
    host_disks_encrypted,
    host_ssh_keys_only,
    host_os_patching,
    no_secrets_in_user_data,
    launch_template_hardening,
    autoscaling_hardening,
)
