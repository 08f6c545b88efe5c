"""Azure in offline synth: the shapes the provider returns differently from what it takes, and the client config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opcloud.stacks.mocks import CloudMocks

_ZERO = "00000000-0000-0000-0000-000000000000"


def _computed(typ: str, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    computed: dict[str, Any] = {}
    # Azure takes user-assigned identities as a list of ids but returns a map keyed by id.
    identity = state.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        by_id: dict[str, dict[str, Any]] = {i: {} for i in identity["userAssignedIdentities"]}
        computed["identity"] = identity = {**identity, "userAssignedIdentities": by_id}
    if typ == "azure-native:managedidentity:UserAssignedIdentity" and "principalId" not in state:
        computed["principalId"] = f"{name}-principal"
    # Its client id, named after it: what a host's token requests must name (IMDS `client_id=`).
    if typ == "azure-native:managedidentity:UserAssignedIdentity" and "clientId" not in state:
        computed["clientId"] = f"{name}-client"
    # A system-assigned identity's principal, named after its resource, so grants to it can be traced.
    if isinstance(identity, dict) and "SystemAssigned" in str(identity.get("type", "")):
        computed["identity"] = {**identity, "principalId": f"{name}-principal"}
    return computed


MOCKS = CloudMocks(
    computed=_computed,
    calls={
        "azure-native:authorization:getClientConfig": {
            "clientId": "synth",
            "objectId": _ZERO,
            "subscriptionId": _ZERO,
            "tenantId": _ZERO,
        },
    },
)
