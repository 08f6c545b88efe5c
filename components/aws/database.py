"""RDS PostgreSQL: encrypted with the stack's key, private, Multi-AZ, PITR, TLS forced, replicated backups."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from opcloud.components.aws.iam import service_trust_policy
from opcloud.components.interfaces import DatabaseArgs, DatabaseOutputs
from opcloud.components.naming import database_server_name

ENHANCED_MONITORING_SECONDS = 60
ENHANCED_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"

# Parameters every platform database runs with: TLS only, and an audit trail of who did what.
SERVER_PARAMETERS = {
    "rds.force_ssl": "1",
    "ssl_min_protocol_version": "TLSv1.2",
    "log_connections": "1",
    "log_disconnections": "1",
    "log_statement": "ddl",
    "log_min_duration_statement": "1000",
}


@dataclass(frozen=True)
class AwsDatabaseNative:
    instance: aws.rds.Instance
    parameter_group: aws.rds.ParameterGroup
    backup_replication: aws.rds.InstanceAutomatedBackupsReplication | None


class AwsDatabase(pulumi.ComponentResource):
    outputs: DatabaseOutputs
    native: AwsDatabaseNative

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("opcloud:aws:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        placement = args.placement
        tags = {**placement.tags, "data": "database"}
        major = args.engine_version.split(".")[0]

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=list(args.network.data_subnet_ids),
            region=placement.region,
            tags=tags,
            opts=child,
        )
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            region=placement.region,
            parameters=[
                {"name": key, "value": value, "apply_method": "pending-reboot"}
                for key, value in SERVER_PARAMETERS.items()
            ],
            tags=tags,
            opts=child,
        )
        identifier = database_server_name(placement.prefix)
        # OS-level metrics (processes, memory, I/O) every minute, delivered by RDS under its own role.
        monitoring_role = aws.iam.Role(
            f"{name}-monitoring-role",
            assume_role_policy=service_trust_policy("monitoring.rds.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        monitoring_policy = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy",
            role=monitoring_role.name,
            policy_arn=ENHANCED_MONITORING_POLICY,
            opts=child,
        )
        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=identifier,
            region=placement.region,
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.size,
            allocated_storage=args.storage_gb,
            max_allocated_storage=args.storage_gb * 2,
            storage_type="gp3",
            db_name=args.database_name,
            username="platform_admin",
            # The password lives in Secrets Manager, encrypted with our key, rotated by RDS: never in config.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.keys.key_id,
            iam_database_authentication_enabled=True,
            storage_encrypted=True,
            kms_key_id=args.keys.key_id,
            publicly_accessible=False,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[args.network.firewall_ids["data"]],
            parameter_group_name=parameter_group.name,
            multi_az=args.high_availability,
            backup_retention_period=min(args.backup_retention_days, 35),
            backup_window="00:00-00:30",
            maintenance_window="sun:03:00-sun:04:00",
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{identifier}-final",
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.keys.key_id,
            monitoring_interval=ENHANCED_MONITORING_SECONDS,
            monitoring_role_arn=monitoring_role.arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            auto_minor_version_upgrade=True,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.deletion_protection, depends_on=[monitoring_policy]),
        )
        backup_replication = None
        if placement.copy_region is not None and args.keys.copy_key_id is not None:
            # Snapshots and transaction logs copied to the second region: point-in-time restore there too.
            backup_replication = aws.rds.InstanceAutomatedBackupsReplication(
                f"{name}-backup-replication",
                source_db_instance_arn=instance.arn,
                kms_key_id=args.keys.copy_key_id,
                retention_period=min(args.backup_retention_days, 35),
                region=placement.copy_region,
                opts=child,
            )

        self.native = AwsDatabaseNative(
            instance=instance, parameter_group=parameter_group, backup_replication=backup_replication
        )
        self.outputs = DatabaseOutputs(endpoint=instance.address, port=instance.port, server_id=instance.arn)
        self.register_outputs({"endpoint": instance.address})
