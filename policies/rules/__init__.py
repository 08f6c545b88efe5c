"""Every rule of the pack, in report order. A new rule module adds its RULES here."""

from __future__ import annotations

from opcloud.policies.model import Rule
from opcloud.policies.rules import (
    audit_logging,
    backups,
    compute_hardening,
    database_hardening,
    deletion_protection,
    edge,
    encryption_at_rest,
    encryption_in_transit,
    high_availability,
    iam,
    key_vault,
    known_types,
    logging_hardening,
    network_hardening,
    public_access,
    residency,
    storage_hardening,
    tags,
    vulnerability_scanning,
)

ALL_RULES: tuple[Rule, ...] = (
    *residency.RULES,
    *encryption_at_rest.RULES,
    *encryption_in_transit.RULES,
    *public_access.RULES,
    *backups.RULES,
    *high_availability.RULES,
    *audit_logging.RULES,
    *vulnerability_scanning.RULES,
    *deletion_protection.RULES,
    *tags.RULES,
    *known_types.RULES,
    # Checkov-level hardening (see policies/CHECKOV_COVERAGE.csv).
    *network_hardening.RULES,
    *edge.RULES,
    *iam.RULES,
    *compute_hardening.RULES,
    *key_vault.RULES,
    *storage_hardening.RULES,
    *database_hardening.RULES,
    *logging_hardening.RULES,
)
