"""Built-in Azure role ids the stand grants, and the role assignment helper.

Ids are Azure's fixed built-in role GUIDs (the same in every tenant), so no lookup at deploy time.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
VIRTUAL_MACHINE_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"


def role_definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def grant(
    name: str,
    *,
    principal_id: pulumi.Input[str],
    role: str,
    scope: pulumi.Input[str],
    subscription_id: str,
    parent: pulumi.Resource,
) -> authorization.RoleAssignment:
    """Give a managed identity one built-in role on one scope (the narrowest that works)."""
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type="ServicePrincipal",  # skips the Entra lookup that races a brand-new identity
        role_definition_id=role_definition_id(subscription_id, role),
        scope=scope,
        opts=pulumi.ResourceOptions(parent=parent),
    )
