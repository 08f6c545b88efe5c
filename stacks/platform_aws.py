"""The platform on AWS: environment -> neutral Args -> the AWS components."""

from __future__ import annotations

import pulumi

from components.aws import AwsAppTier, AwsAudit, AwsBackups, AwsDatabase, AwsDocumentStore, AwsKeys, AwsNetwork
from components.interfaces import (
    AppTierArgs,
    AuditArgs,
    BackupArgs,
    DatabaseArgs,
    DocumentStoreArgs,
    HostGroupSpec,
    KeysArgs,
    NetworkArgs,
)
from stacks.environment import Environment
from stacks.platform import PlatformOutputs, placement_of, schedule_of


def compose(environment: Environment) -> PlatformOutputs:
    placement = placement_of(environment)
    prefix = placement.prefix
    admin = [str(c) for c in environment.network.admin_cidrs]

    network = AwsNetwork(
        f"{prefix}-network",
        NetworkArgs(
            placement=placement,
            cidr=environment.network.cidr,
            zones=environment.network.zones,
            allowed_cidrs=[str(c) for c in environment.network.allowed_cidrs],
            admin_cidrs=admin,
        ),
    )
    keys = AwsKeys(f"{prefix}-keys", KeysArgs(placement=placement, admin_cidrs=admin))
    audit = AwsAudit(
        f"{prefix}-audit",
        AuditArgs(placement=placement, keys=keys.outputs, retention_days=environment.audit.retention_days),
    )
    access_logs = audit.native.access_logs.bucket.bucket
    storage = environment.storage
    documents = AwsDocumentStore(
        f"{prefix}-documents",
        DocumentStoreArgs(
            placement=placement,
            keys=keys.outputs,
            network=network.outputs,
            infrequent_after_days=storage.infrequent_after_days,
            archive_after_days=storage.archive_after_days,
            noncurrent_retention_days=storage.noncurrent_retention_days,
            soft_delete_days=storage.soft_delete_days,
            access_log_target=access_logs,
        ),
    )
    db = environment.database
    database = AwsDatabase(
        f"{prefix}-database",
        DatabaseArgs(
            placement=placement,
            keys=keys.outputs,
            network=network.outputs,
            engine_version=db.engine_version,
            size=db.size,
            storage_gb=db.storage_gb,
            database_name=db.name,
            high_availability=db.high_availability,
            deletion_protection=db.deletion_protection,
            backup_retention_days=environment.backup.retention_days,
            admin_cidrs=admin,
        ),
    )
    backups = AwsBackups(
        f"{prefix}-backups",
        BackupArgs(
            placement=placement,
            keys=keys.outputs,
            schedule=schedule_of(environment),
            protected_ids=[database.outputs.server_id, documents.outputs.store_id],
        ),
    )
    app_settings = environment.app
    app = AwsAppTier(
        f"{prefix}-app",
        AppTierArgs(
            placement=placement,
            keys=keys.outputs,
            network=network.outputs,
            domain=app_settings.domain,
            certificate=app_settings.certificate,
            api=HostGroupSpec(app_settings.api.size, app_settings.api.min, app_settings.api.max),
            docs=HostGroupSpec(app_settings.docs.size, app_settings.docs.min, app_settings.docs.max),
            allowed_cidrs=[str(c) for c in environment.network.allowed_cidrs],
            rate_limit=app_settings.rate_limit,
            log_target=access_logs,
        ),
        opts=pulumi.ResourceOptions(depends_on=[audit]),
    )
    return PlatformOutputs(
        network=network.outputs,
        keys=keys.outputs,
        documents=documents.outputs,
        database=database.outputs,
        backups=backups.outputs,
        app=app.outputs,
        audit=audit.outputs,
    )
