"""The platform program: validated environment -> the parts of DESIGN.md's table on its cloud.

The per-cloud modules (`stacks/platform_aws.py`, `platform_azure.py`, `platform_iaas.py`) turn the
environment into the neutral Args of `components.interfaces` and instantiate their cloud's components;
this module picks one and exports the same outputs whatever the cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

import pulumi

from components.interfaces import (
    AppTierOutputs,
    AuditOutputs,
    BackupOutputs,
    DatabaseOutputs,
    DocumentStoreOutputs,
    KeysOutputs,
    NetworkOutputs,
    Placement,
)
from components.schedules import BackupSchedule
from stacks.environment import Environment


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

_COMPOSERS = {"aws": "stacks.platform_aws", "azure": "stacks.platform_azure", "iaas": "stacks.platform_iaas"}


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


def compose(environment: Environment) -> PlatformOutputs:
    """Declare the whole platform of `environment` and export its outputs."""
    composer: Composer = import_module(_COMPOSERS[environment.cloud]).compose
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
