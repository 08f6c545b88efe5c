"""The stand's role assignment helper; the built-in role ids are `components.azure._common`'s ROLE_* constants.

Ids are Azure's fixed built-in role GUIDs (the same in every tenant), so no lookup at deploy time.
"""

from __future__ import annotations

import pulumi
from opcloud.components.azure._common import role_definition_id
from pulumi_azure_native import authorization


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
