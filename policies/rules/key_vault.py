"""Azure Key Vault: reachable only privately, recoverable, HSM-backed keys in production, keys and secrets
that expire."""

from __future__ import annotations

from collections.abc import Iterator

from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_20,
    A_8_24,
    SECRET,
    UNKNOWN,
    Enforcement,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    resource_rule,
    stack_rule,
    unevaluated,
)
from opcloud.policies.rules import links


@resource_rule(
    name="key-vault-private",
    description="Platform Key Vaults deny public networks (publicNetworkAccess Disabled) and are reached through "
    "a private endpoint, or not at all where the stack has no network in their region (the geo-backup key's "
    "vault). (The Jenkins test stand's vault admits its own subnets by service endpoint.)",
    control=A_8_20,
    severity=Severity.HIGH,
    remediation="publicNetworkAccess Disabled, no IP rules, and a private endpoint (group 'vault') in the VNet.",
    needs_stack=True,
    not_applicable={
        "aws": "AWS has no Key Vault: KMS keys (kms-key-policy)",
        "iaas": "no managed key vault on a VM-only cloud",
    },
)
def key_vault_private(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AZ_KEY_VAULT:
        return None
    acls = resource.get("properties.networkAcls") or {}
    if stack.context.program != "platform":
        closed = acls.get("defaultAction") == "Deny" and not acls.get("ipRules")
        return [(closed, "firewall denies by default, no IP rules" if closed else "firewall admits public networks")]
    problems = []
    if resource.get("properties.publicNetworkAccess") != "Disabled":
        problems.append("public network access is not Disabled")
    if acls.get("ipRules"):
        problems.append("IP rules admit public addresses")
    endpoints = links.by_name(
        [
            e
            for e in stack.of_type(*res.AZ_PRIVATE_ENDPOINT)
            if resource.urn in e.refs.get("privateLinkServiceConnections", ())
            or any(
                resource in stack.resolve((c or {}).get("privateLinkServiceId"))
                for c in res.as_list(e.get("privateLinkServiceConnections"))
            )
        ]
    )
    if endpoints:
        return [(not problems, "; ".join(problems) or f"private endpoint {endpoints[0].name} only")]
    region = res.region_of(resource, stack.context)
    if not problems and not [v for v in stack.of_type(*res.AZ_VNET) if res.region_of(v, stack.context) == region]:
        # e.g. the geo-backup key's vault in the paired region: no network of the stack there to reach it from.
        return [(True, f"no network path at all in {region}: trusted Azure services only")]
    return [(False, "; ".join([*problems, "no private endpoint"]))]


@resource_rule(
    name="key-vault-recoverable",
    description="Key Vaults keep deleted keys and secrets (soft delete) and cannot be purged before the "
    "retention ends (purge protection).",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="enableSoftDelete true and enablePurgeProtection true.",
    not_applicable={
        "aws": "AWS has no Key Vault: KMS deletion windows (encryption-at-rest-cmk)",
        "iaas": "no managed key vault on a VM-only cloud",
    },
)
def key_vault_recoverable(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AZ_KEY_VAULT:
        return None
    problems = []
    if resource.get("properties.enableSoftDelete") is False:
        problems.append("soft delete off")
    if not res.truthy(resource.get("properties.enablePurgeProtection")):
        problems.append("purge protection off")
    return [(not problems, "; ".join(problems) or "soft delete and purge protection")]


@resource_rule(
    name="key-hardening",
    description="Key Vault keys expire (each version the rotation policy makes has an expiry) and, in "
    "production, live in an HSM (RSA-HSM / EC-HSM).",
    control=A_8_24,
    severity=Severity.MEDIUM,
    remediation="rotationPolicy.attributes.expiryTime (or attributes.expires); kty RSA-HSM in a premium vault.",
    not_applicable={
        "aws": "KMS keys are judged by key-rotation and kms-key-policy",
        "iaas": "no managed key vault on a VM-only cloud",
    },
)
def key_hardening(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.AZ_KEY:
        return None
    problems = []
    if not resource.get("properties.attributes.expires") and not resource.get(
        "properties.rotationPolicy.attributes.expiryTime"
    ):
        problems.append("no expiry")
    if stack.context.production and not str(resource.get("properties.kty", "")).endswith("-HSM"):
        problems.append(f"kty {resource.get('properties.kty', 'unset')} is not HSM-backed")
    return [(not problems, "; ".join(problems) or "expires, HSM-backed where it must be")]


def _secret_verdict(secret: ResourceView) -> Verdict:
    properties = secret.get("properties")
    if properties in (SECRET, UNKNOWN) or not isinstance(properties, dict):
        return unevaluated("the secret's properties are masked whole offline; pulumi preview --policy-pack reads them")
    problems = []
    if not (properties.get("attributes") or {}).get("expires"):
        problems.append("no expiry")
    if not properties.get("contentType"):
        problems.append("no content type")
    return not problems, "; ".join(problems) or "expires, content type set"


@stack_rule(
    name="key-vault-secret-expiry",
    description="Key Vault secrets expire and say what they hold (content type). Advisory: offline, a secret's "
    "properties are masked whole, so only `pulumi preview --policy-pack` can read them.",
    control=A_8_24,
    severity=Severity.MEDIUM,
    remediation="properties.attributes.expires (seconds since the epoch) and properties.contentType.",
    enforcement=Enforcement.ADVISORY,
    not_applicable={"aws": "no Key Vault secrets on AWS", "iaas": "no managed key vault on a VM-only cloud"},
)
def key_vault_secret_expiry(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    if stack.context.cloud != "azure":
        return
    secrets = stack.of_type(*res.AZ_SECRET)
    if not secrets:
        yield None, True, "no Key Vault secrets in the stack"
    for secret in secrets:
        yield (secret, *_secret_verdict(secret))


RULES = (key_vault_private, key_vault_recoverable, key_hardening, key_vault_secret_expiry)
