"""The stack context rules read: built from the validated environment, or from raw config and tags.

Offline, `opcloud stack check` has the validated `Environment`. Inside `pulumi preview`, the pack
gets the stack's config (PULUMI_CONFIG) and the stack name (PULUMI_STACK); if neither is there, the
`jurisdiction`/`environment` tags every resource carries are the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opcloud.policies.model import BackupPolicy, ResourceView, StackContext

from opcloud.config.environment import PROJECT, Environment, decode_config_value
from opcloud.config.environment import from_config as environment_from_config


def from_environment(stack: str, environment: Environment) -> StackContext:
    backup = environment.backup
    return StackContext(
        stack=stack,
        jurisdiction=environment.jurisdiction,
        primary_jurisdiction=environment.primary_jurisdiction,
        environment=environment.environment,
        cloud=environment.cloud,
        region=environment.region,
        copy_region=backup.copy_region,
        geo_redundancy=backup.geo_redundancy,
        backup=BackupPolicy(backup.full_weekday, backup.log_interval_minutes, backup.retention_days),
        program="platform",
        allow_limits=environment.network.public_address_limits.as_map(),
        tags=environment.standard_tags(),
        nfs_integrity_only=frozenset(
            s.name for s in (environment.inventory.nfs if environment.inventory else []) if s.sec == "krb5i"
        ),
    )


def _raw(config: Mapping[str, Any], key: str) -> Any:
    return decode_config_value(config.get(f"{PROJECT}:{key}"))


def from_config(stack: str, config: Mapping[str, Any], source: str) -> StackContext:
    """Context of any program's config: the full model for platforms, the plain keys otherwise."""
    program = str(config.get(f"{PROJECT}:program", "platform"))
    if program == "platform":
        return from_environment(stack, environment_from_config(config, source))
    region = _raw(config, "region") or config.get("azure-native:location") or config.get("aws:region")
    return StackContext(
        stack=stack,
        jurisdiction=_raw(config, "jurisdiction"),
        environment=_raw(config, "environment"),
        cloud=_raw(config, "cloud") or ("azure" if "azure-native:location" in config else None),
        region=str(region) if region else None,
        program=program,
    )


def from_tags(stack: str, resources: Iterable[ResourceView]) -> StackContext:
    """Last resort: the tags the resources carry (no backup policy: backup rules then report it)."""
    for resource in resources:
        tags = resource.tags
        if tags.get("jurisdiction"):
            return StackContext(
                stack=stack,
                jurisdiction=tags["jurisdiction"],
                primary_jurisdiction=tags.get("primary-jurisdiction"),
                environment=tags.get("environment"),
            )
    return StackContext(stack=stack)
