"""Names of cloud resources that have rules of their own: pure functions, tested without Pulumi."""

from __future__ import annotations

import hashlib
import re


def _digest(*parts: str, length: int) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def bucket_name(prefix: str, purpose: str, region: str) -> str:
    """S3 bucket name: global, 3-63 of [a-z0-9-]; the region keeps copies in two regions apart."""
    base = re.sub(r"[^a-z0-9-]", "-", f"{prefix}-{purpose}-{region}".lower()).strip("-")
    if len(base) <= 63:
        return base
    suffix = _digest(base, length=8)
    return f"{base[: 63 - 9].rstrip('-')}-{suffix}"


def storage_account_name(prefix: str, purpose: str) -> str:
    """Azure storage account: global, 3-24 of [a-z0-9]; a hash keeps long names unique."""
    compact = re.sub(r"[^a-z0-9]", "", f"{prefix}{purpose}".lower())
    if len(compact) <= 24:
        return compact
    return compact[:16] + _digest(prefix, purpose, length=8)


def key_vault_name(prefix: str, purpose: str = "") -> str:
    """Azure Key Vault: global, 3-24 of [a-zA-Z0-9-], starts with a letter, no double hyphen."""
    base = f"{prefix}-{purpose}-kv" if purpose else f"{prefix}-kv"
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", base.lower())).strip("-")
    if len(name) <= 24:
        return name
    return f"{name[:15].rstrip('-')}-{_digest(prefix, purpose, length=8) if purpose else _digest(prefix, length=8)}"


def database_server_name(prefix: str) -> str:
    """RDS identifier / Azure server name: 3-63 of [a-z0-9-], starts with a letter."""
    name = re.sub(r"[^a-z0-9-]", "-", f"{prefix}-pg".lower()).strip("-")
    return name[:63].rstrip("-")


def resource_group_name(prefix: str) -> str:
    """Azure resource group of a stack: 1-90 of [a-zA-Z0-9._()-], not ending in a period."""
    name = re.sub(r"[^a-zA-Z0-9._()-]", "-", f"{prefix}-rg")
    return name[:90].rstrip(".")


def azure_postgres_dns_zone(prefix: str) -> str:
    """Private DNS zone of a VNet-integrated PostgreSQL flexible server (must end in the service suffix)."""
    label = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", prefix.lower())).strip("-")
    return f"{label}.private.postgres.database.azure.com"
