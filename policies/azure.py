"""Azure as the rules read it: the policy adapter the `azure` cloud record names (opcloud/clouds.py)."""

from __future__ import annotations

from opcloud.policies import resources as res
from opcloud.policies.adapter import CloudPolicy

POLICY = CloudPolicy(
    data_stores=(
        *res.AZ_STORAGE,
        *res.AZ_PG,
        *res.AZ_BACKUP_VAULT,
        *res.AZ_DISK,
        *res.AZ_WORKSPACE,
        *res.AZ_KEY_VAULT,
    ),
    databases=res.AZ_PG,
    data_namespaces=frozenset(
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
    known_types=(
        "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra",
        "azure-native:dbforpostgresql:Database",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:ManagementPolicy",
        "azure-native:keyvault:Secret",
        "azure-native:compute:VirtualMachine",
        "azure-native:compute:VirtualMachineScaleSet",
        "azure-native:compute:DiskEncryptionSet",
    ),
    region_inputs=("location",),
    normalize_region=res.normalize_location,  # Azure accepts "North Europe" and "northeurope" alike
)
