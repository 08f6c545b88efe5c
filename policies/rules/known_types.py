"""Fail closed on what the pack does not know: an unknown provider package, or an unknown resource type in a
namespace that holds data, could keep data anywhere; no rule can say where, so the stack is VIOLATED.
"""

from __future__ import annotations

from collections.abc import Iterator

from opcloud.policies import iaas
from opcloud.policies import resources as res
from opcloud.policies.model import A_5_23, ResourceView, Severity, StackView, stack_rule

# Packages whose resources the rules read; `pulumi` (providers, stack) and `opcloud` (components) hold nothing.
KNOWN_PACKAGES = ("aws", "azure-native", "pulumi", "opcloud", "pulumi-python")
# Namespaces (service modules) of provider packages whose resources can hold data.
DATA_NAMESPACES: dict[str, frozenset[str]] = {
    "aws": frozenset(
        [
            "s3",
            "s3control",
            "rds",
            "dynamodb",
            "ebs",
            "efs",
            "backup",
            "elasticache",
            "redshift",
            "docdb",
            "opensearch",
            "kinesis",
            "sqs",
            "sns",
            "secretsmanager",
            "ssm",
            "glacier",
            "fsx",
            "neptune",
            "memorydb",
            "cloudwatch",
            "kms",
            "cloudtrail",
            "lightsail",
            "timestream",
        ]
    ),
    "azure-native": frozenset(
        [
            "storage",
            "dbforpostgresql",
            "dbformysql",
            "sql",
            "documentdb",
            "cosmosdb",
            "cache",
            "keyvault",
            "dataprotection",
            "recoveryservices",
            "compute",
            "operationalinsights",
            "netapp",
            "synapse",
            "datafactory",
            "eventhub",
            "servicebus",
        ]
    ),
}
# Types in those namespaces the rules know: data stores they judge, and configuration that holds no data.
_CONFIGURATION = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
    "aws:rds/subnetGroup:SubnetGroup",
    "aws:kms/alias:Alias",
    "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra",
    "azure-native:dbforpostgresql:Database",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:ManagementPolicy",
    "azure-native:keyvault:Secret",
    "aws:secretsmanager/secretVersion:SecretVersion",  # the value: its secret's key is judged on the secret
    "azure-native:compute:VirtualMachine",
    "azure-native:compute:VirtualMachineScaleSet",
    "azure-native:compute:DiskEncryptionSet",
    # Monitoring and notification configuration: no data of the platform in them.
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:cloudwatch/dashboard:Dashboard",
    "aws:cloudwatch/logMetricFilter:LogMetricFilter",
    "aws:backup/vaultNotifications:VaultNotifications",
    "aws:backup/vaultPolicy:VaultPolicy",
)
KNOWN_TYPES: frozenset[str] = frozenset(
    t
    for name in dir(res)
    if name.isupper() and isinstance(getattr(res, name), tuple)
    for t in getattr(res, name)
    if isinstance(t, str) and ":" in t
) | frozenset(_CONFIGURATION)
STEP_KINDS = frozenset(
    [
        "packages",
        "firewall",
        "iscsi-attach",
        "luks",
        "filesystem",
        "nfs-mount",
        "postgresql",
        "pgbackrest",
        "documents-backup",
        "app-unit",
        "release",
        "load-balancer",
        "patroni",
        "etcd",
        "audit-rules",
        "log-shipping",
    ]
)


def _unknown(resource: ResourceView) -> str | None:
    package, _, rest = resource.type.partition(":")
    if package not in KNOWN_PACKAGES:
        return f"provider package {package!r} is unknown to the pack: where it keeps data cannot be judged"
    if package == "pulumi-python":
        if iaas.kind(resource) not in STEP_KINDS:
            return f"dynamic resource of kind {resource.get('kind')!r} is not an opcloud host step the rules read"
        return None
    namespace = rest.split(":")[0].split("/")[0]
    if namespace in DATA_NAMESPACES.get(package, ()) and resource.type not in KNOWN_TYPES:
        return f"{resource.type} sits in the data-holding namespace {namespace!r} but no rule knows it"
    return None


@stack_rule(
    name="known-resource-types",
    description="Every resource comes from a provider package the pack knows, and every resource type in a "
    "data-holding namespace is one the rules judge (unknowns fail closed).",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="Teach the pack the new type (policies/resources.py and the rules that judge it) before using it.",
)
def known_resource_types(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    unknown = [(r, why) for r in stack.resources if (why := _unknown(r))]
    for resource, why in unknown:
        yield resource, False, why
    if not unknown:
        yield None, True, f"all {len(stack.resources)} resources are of packages and types the rules know"


RULES = (known_resource_types,)
