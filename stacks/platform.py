"""The platform program: validated environment -> the parts of DESIGN.md's table on its cloud.

The per-cloud modules (`stacks/platform_aws.py`, `platform_azure.py`, `platform_iaas.py`) turn the
environment into the neutral Args of `components.interfaces` and instantiate their cloud's components;
this module picks one and exports the same outputs whatever the cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import import_module
from ipaddress import IPv4Network

import pulumi
from opcloud.components.interfaces import (
    AppTierArgs,
    AppTierOutputs,
    AuditArgs,
    AuditOutputs,
    BackupArgs,
    BackupOutputs,
    DatabaseArgs,
    DatabaseOutputs,
    DocumentStoreArgs,
    DocumentStoreOutputs,
    HostGroupSpec,
    KeysArgs,
    KeysOutputs,
    NetworkArgs,
    NetworkOutputs,
    Placement,
)
from opcloud.stacks.release import release_args

from opcloud import clouds
from opcloud.config.environment import Environment
from opcloud.schedules import BackupSchedule


@dataclass(frozen=True)
class PlatformOutputs:
    network: NetworkOutputs
    keys: KeysOutputs
    documents: DocumentStoreOutputs
    database: DatabaseOutputs
    backups: BackupOutputs
    app: AppTierOutputs
    audit: AuditOutputs


Composer = Callable[[Environment], PlatformOutputs]


def placement_of(environment: Environment) -> Placement:
    return Placement(
        prefix=environment.stack_prefix,
        region=environment.region,
        jurisdiction=environment.jurisdiction,
        tags=environment.standard_tags(),
        production=environment.is_production,
        copy_region=environment.backup.copy_region,
    )


def schedule_of(environment: Environment) -> BackupSchedule:
    backup = environment.backup
    return BackupSchedule(
        full_weekday=backup.full_weekday,
        start=backup.start_time,
        log_interval_minutes=backup.log_interval_minutes,
        retention_days=backup.retention_days,
    )


# The neutral Args of each part, built once from the environment for every cloud's composer.


def _cidrs(networks: Iterable[IPv4Network]) -> list[str]:
    return [str(c) for c in networks]


def network_args(environment: Environment) -> NetworkArgs:
    network = environment.network
    return NetworkArgs(
        placement=placement_of(environment),
        cidr=network.cidr,
        zones=network.zones,
        allowed_cidrs=_cidrs(network.allowed_cidrs),
        admin_cidrs=_cidrs(network.admin_cidrs),
    )


def keys_args(environment: Environment) -> KeysArgs:
    return KeysArgs(placement=placement_of(environment), admin_cidrs=_cidrs(environment.network.admin_cidrs))


def audit_args(environment: Environment, keys: KeysOutputs) -> AuditArgs:
    return AuditArgs(placement=placement_of(environment), keys=keys, retention_days=environment.audit.retention_days)


def document_store_args(
    environment: Environment, keys: KeysOutputs, network: NetworkOutputs, access_log_target: pulumi.Input[str] | None
) -> DocumentStoreArgs:
    storage = environment.storage
    return DocumentStoreArgs(
        placement=placement_of(environment),
        keys=keys,
        network=network,
        infrequent_after_days=storage.infrequent_after_days,
        archive_after_days=storage.archive_after_days,
        noncurrent_retention_days=storage.noncurrent_retention_days,
        soft_delete_days=storage.soft_delete_days,
        access_log_target=access_log_target,
    )


def database_args(environment: Environment, keys: KeysOutputs, network: NetworkOutputs) -> DatabaseArgs:
    db = environment.database
    azure = environment.azure
    return DatabaseArgs(
        placement=placement_of(environment),
        keys=keys,
        network=network,
        engine_version=db.engine_version,
        size=db.size,
        storage_gb=db.storage_gb,
        database_name=db.name,
        high_availability=db.high_availability,
        deletion_protection=db.deletion_protection,
        backup_retention_days=environment.backup.retention_days,
        weekly_retention_weeks=db.weekly_retention_weeks,
        admin_cidrs=_cidrs(environment.network.admin_cidrs),
        admin_group=(
            {"tenantId": azure.tenant_id, "objectId": azure.admin_group_object_id, "name": azure.admin_group_name}
            if azure
            else {}
        ),
    )


def backup_args(
    environment: Environment, keys: KeysOutputs, protected_ids: Sequence[pulumi.Input[str] | None]
) -> BackupArgs:
    return BackupArgs(
        placement=placement_of(environment), keys=keys, schedule=schedule_of(environment), protected_ids=protected_ids
    )


def app_args(
    environment: Environment, keys: KeysOutputs, network: NetworkOutputs, log_target: pulumi.Input[str] | None
) -> AppTierArgs:
    app = environment.app
    return AppTierArgs(
        placement=placement_of(environment),
        keys=keys,
        network=network,
        domain=app.domain,
        certificate=app.certificate,
        api=HostGroupSpec(app.api.size, app.api.min, app.api.max),
        docs=HostGroupSpec(app.docs.size, app.docs.min, app.docs.max),
        allowed_cidrs=_cidrs(environment.network.allowed_cidrs),
        rate_limit=app.rate_limit,
        log_target=log_target,
        release=release_args(environment),
    )


def compose(environment: Environment) -> PlatformOutputs:
    """Declare the whole platform of `environment` and export its outputs."""
    composer: Composer = import_module(clouds.get(environment.cloud).composer).compose
    outputs = composer(environment)
    pulumi.export("cloud", environment.cloud)
    pulumi.export("region", environment.region)
    pulumi.export("jurisdiction", environment.jurisdiction)
    pulumi.export("url", outputs.app.url)
    pulumi.export("networkId", outputs.network.network_id)
    pulumi.export("keyId", outputs.keys.key_id)
    pulumi.export("documentStore", outputs.documents.store_name)
    pulumi.export("databaseEndpoint", outputs.database.endpoint)
    pulumi.export("backupVault", outputs.backups.vault_id)
    pulumi.export("auditLog", outputs.audit.log_store_id)
    return outputs
