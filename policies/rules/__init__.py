"""Every rule of the pack, in report order. A new rule module adds its RULES here."""

from __future__ import annotations

from policies.model import Rule
from policies.rules import (
    audit_logging,
    backups,
    deletion_protection,
    encryption_at_rest,
    encryption_in_transit,
    known_types,
    public_access,
    residency,
    tags,
)

ALL_RULES: tuple[Rule, ...] = (
    *residency.RULES,
    *encryption_at_rest.RULES,
    *encryption_in_transit.RULES,
    *public_access.RULES,
    *backups.RULES,
    *audit_logging.RULES,
    *deletion_protection.RULES,
    *tags.RULES,
    *known_types.RULES,
)
