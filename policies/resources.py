"""What the rules know about provider resource types: which hold data, where they are, what links them.

Type tokens are the provider's own (`aws:s3/bucket:Bucket`); pulumi-aws 7 keeps the old `...V2`
tokens as aliases, so both spellings are listed. IaaS host steps (`opcloud:iaas:*`) are added here
as the IaaS components declare them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from opcloud.policies import adapter
from opcloud.policies.model import UNKNOWN, ResourceView, StackContext, StackView

from opcloud import allowlists, clouds, residency

# ------------------------------------------------------------------------------------------------ AWS
S3_BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
S3_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
S3_REPLICATION = ("aws:s3/bucketReplicationConfig:BucketReplicationConfig",)
S3_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
RDS_INSTANCE = ("aws:rds/instance:Instance",)
RDS_CLUSTER = ("aws:rds/cluster:Cluster",)
RDS_PARAMETER_GROUP = ("aws:rds/parameterGroup:ParameterGroup",)
RDS_BACKUP_REPLICATION = ("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication",)
EBS_VOLUME = ("aws:ebs/volume:Volume",)
EFS = ("aws:efs/fileSystem:FileSystem",)
BACKUP_VAULT = ("aws:backup/vault:Vault",)
BACKUP_PLAN = ("aws:backup/plan:Plan",)
BACKUP_SELECTION = ("aws:backup/selection:Selection",)
KMS_KEY = ("aws:kms/key:Key",)
SECRETS_MANAGER_SECRET = ("aws:secretsmanager/secret:Secret",)
CLOUDTRAIL = ("aws:cloudtrail/trail:Trail",)
LOG_GROUP = ("aws:cloudwatch/logGroup:LogGroup",)
SECURITY_GROUP = ("aws:ec2/securityGroup:SecurityGroup",)
SG_INGRESS_RULE = ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",)
SG_RULE = ("aws:ec2/securityGroupRule:SecurityGroupRule",)
LB = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LB_LISTENER = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LAUNCH_TEMPLATE = ("aws:ec2/launchTemplate:LaunchTemplate",)
EC2_INSTANCE = ("aws:ec2/instance:Instance",)
INSPECTOR_ENABLER = ("aws:inspector2/enabler:Enabler",)

# ---------------------------------------------------------------------------------------------- Azure
AZ_STORAGE = ("azure-native:storage:StorageAccount",)
AZ_BLOB_SERVICE = ("azure-native:storage:BlobServiceProperties",)
AZ_PG = ("azure-native:dbforpostgresql:Server",)
AZ_PG_CONFIG = ("azure-native:dbforpostgresql:Configuration",)
AZ_PG_FIREWALL = ("azure-native:dbforpostgresql:FirewallRule",)
AZ_SQL = ("azure-native:sql:Server",)
AZ_SQL_DB = ("azure-native:sql:Database",)
AZ_SQL_FIREWALL = ("azure-native:sql:FirewallRule",)
AZ_SQL_PROTECTOR = ("azure-native:sql:EncryptionProtector",)
AZ_SQL_FAILOVER = ("azure-native:sql:FailoverGroup",)
AZ_SQL_AUDITING = ("azure-native:sql:ExtendedServerBlobAuditingPolicy", "azure-native:sql:ServerBlobAuditingPolicy")
AZ_SQL_SHORT_RETENTION = ("azure-native:sql:BackupShortTermRetentionPolicy",)
AZ_SQL_LONG_RETENTION = ("azure-native:sql:LongTermRetentionPolicy",)
AZ_SQL_CONFIG = ("azure-native:sql:ServerKey", "azure-native:sql:SensitivityLabel")
AZ_SQL_THREAT_PROTECTION = ("azure-native:sql:ServerSecurityAlertPolicy",)
AZ_SQL_VULNERABILITY = ("azure-native:sql:SqlVulnerabilityAssessmentsSetting",)
AZ_SQL_GEO_BACKUP = ("Geo", "GeoZone")  # requestedBackupStorageRedundancy copying to the paired region
AZ_BACKUP_VAULT = ("azure-native:dataprotection:BackupVault",)
AZ_BACKUP_POLICY = ("azure-native:dataprotection:BackupPolicy",)
AZ_BACKUP_INSTANCE = ("azure-native:dataprotection:BackupInstance",)
AZ_KEY_VAULT = ("azure-native:keyvault:Vault",)
AZ_KEY = ("azure-native:keyvault:Key",)
AZ_DISK = ("azure-native:compute:Disk",)
AZ_NSG = ("azure-native:network:NetworkSecurityGroup",)
AZ_NSG_RULE = ("azure-native:network:SecurityRule",)
AZ_APP_GATEWAY = ("azure-native:network:ApplicationGateway",)
AZ_DIAGNOSTIC = ("azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting")
AZ_WORKSPACE = ("azure-native:operationalinsights:Workspace",)
AZ_DEFENDER_PLAN = ("azure-native:security:Pricing",)
# Storage SKUs that copy to the region's fixed pair.
AZ_GEO_SKUS = ("Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS")
AZ_LOCKS = (
    "azure-native:authorization:ManagementLockAtResourceLevel",
    "azure-native:authorization:ManagementLockAtResourceGroupLevel",
    "azure-native:authorization:ManagementLockByScope",
)

# Ports of data and admin services (kept for rules reading them; the classes live in opcloud.allowlists).
DATA_PORTS: dict[int, str] = {**allowlists.ADMIN_PORTS, **allowlists.DATA_PORTS}
WORLD = ("0.0.0.0/0", "::/0", "*", "Internet", "Any", "any", "internet")


def cloud_of(resource: ResourceView) -> str:
    """The registered cloud (opcloud/clouds.py) of a resource; an unknown provider is never taken for the
    stack's own cloud."""
    return clouds.cloud_of_type(resource.type) or "unknown"


def truthy(value: Any) -> bool:
    """A provider boolean, tolerating the strings some schemas use."""
    if isinstance(value, str):
        return value.lower() in ("true", "enabled", "on", "1", "yes")
    return bool(value)


def normalize_location(location: str) -> str:
    """Azure accepts "North Europe" and "northeurope" alike."""
    return location.replace(" ", "").lower()


def region_of(resource: ResourceView, context: StackContext) -> str | None:
    """Region (or site) a resource lives in: its own input (as its cloud's adapter names it), else the stack's
    provider region."""
    cloud = cloud_of(resource)
    policy = adapter.policy_of(cloud)
    own: Any = None
    if policy is not None:
        own = next((v for key in policy.region_inputs if (v := resource.get(key))), None)
        own = policy.normalize_region(own) if isinstance(own, str) and own != UNKNOWN else own
    if isinstance(own, str) and own and own != UNKNOWN:
        return own
    if context.cloud in (None, cloud):
        return context.region
    return None


def data_stores() -> tuple[str, ...]:
    """Types whose contents are the platform's data (documents, rows, backups, audit trails), on every cloud."""
    return adapter.data_stores()


def databases() -> tuple[str, ...]:
    return adapter.databases()


def country(cloud: str, region: str) -> str | None:
    try:
        return residency.country_of(cloud, region)
    except Exception:  # an unknown region is reported by the caller, never guessed
        return None


def arn_region(arn: Any) -> str | None:
    """The region field of an ARN (`arn:aws:backup:eu-central-1:...`), if it names a real region."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    if len(parts) > 3 and parts[3] in residency.AWS_REGIONS:
        return parts[3]
    return None


def target_region(stack: StackView, value: Any) -> tuple[ResourceView | None, str | None]:
    """The stack's resource a copy destination points at and its region; else the region its ARN names.

    A destination the provider computes (a preview's unknown) gives the region UNKNOWN: "will be known".
    """
    if value == UNKNOWN:
        return None, UNKNOWN
    targets = stack.resolve(value)
    if targets:
        return targets[0], region_of(targets[0], stack.context)
    return None, arn_region(value)


def number(value: Any) -> float | None:
    """A provider number: protobuf hands every number over as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def days(value: Any) -> str:
    """A number of days for people: 35, not 35.0."""
    n = number(value)
    return str(int(n)) if n is not None and n.is_integer() else str(value)


def as_list(value: Any) -> list[Any]:
    if value is None or value == UNKNOWN:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def parse_json(value: Any) -> Any:
    """A policy document given as a JSON string or as an object."""
    if isinstance(value, Mapping | list):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def jurisdiction_of(resource: ResourceView, context: StackContext) -> str | None:
    """The stack's jurisdiction, else the resource's own `jurisdiction` tag."""
    return context.jurisdiction or resource.tags.get("jurisdiction") or None


def names(resources: Iterable[ResourceView]) -> str:
    return ", ".join(r.name for r in resources)


# ------------------------------------------------------------------------ types the hardening rules read
VPC = ("aws:ec2/vpc:Vpc",)
FLOW_LOG = ("aws:ec2/flowLog:FlowLog",)
DEFAULT_SECURITY_GROUP = ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",)
SG_EGRESS_RULE = ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",)
SUBNET = ("aws:ec2/subnet:Subnet",)
TARGET_GROUP = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
AUTOSCALING_GROUP = ("aws:autoscaling/group:Group",)
WAF_ACL = ("aws:wafv2/webAcl:WebAcl",)
WAF_ASSOCIATION = ("aws:wafv2/webAclAssociation:WebAclAssociation",)
WAF_LOGGING = ("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",)
IAM_ROLE = ("aws:iam/role:Role",)
IAM_ROLE_POLICY = ("aws:iam/rolePolicy:RolePolicy",)
IAM_POLICY = ("aws:iam/policy:Policy",)
IAM_ATTACHMENT = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment")
S3_LIFECYCLE = ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",)
S3_OWNERSHIP = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
S3_ACL = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
AZ_VNET = ("azure-native:network:VirtualNetwork",)
AZ_SUBNET = ("azure-native:network:Subnet",)
AZ_FLOW_LOG = ("azure-native:network:FlowLog",)
AZ_NIC = ("azure-native:network:NetworkInterface",)
AZ_PRIVATE_ENDPOINT = ("azure-native:network:PrivateEndpoint",)
AZ_WAF_POLICY = ("azure-native:network:WebApplicationFirewallPolicy",)
AZ_SECRET = ("azure-native:keyvault:Secret",)
AZ_VM = ("azure-native:compute:VirtualMachine",)
AZ_VMSS = ("azure-native:compute:VirtualMachineScaleSet",)


EIP = ("aws:ec2/eip:Eip",)
EIP_ASSOCIATION = ("aws:ec2/eipAssociation:EipAssociation",)
NAT_GATEWAY = ("aws:ec2/natGateway:NatGateway",)
