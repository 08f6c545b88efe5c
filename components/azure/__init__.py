"""The platform's parts on Azure (pulumi-azure-native v3)."""

from opcloud.components.azure.app import AzureAppTier
from opcloud.components.azure.audit import AzureAudit
from opcloud.components.azure.backup import AzureBackups
from opcloud.components.azure.database import AzureDatabase
from opcloud.components.azure.group import AzureResourceGroup, ResourceGroupArgs
from opcloud.components.azure.keys import AzureKeys, AzureKeysOutputs
from opcloud.components.azure.network import (
    AzureNetwork,
    AzureNetworkOutputs,
    AzurePrivateEndpoint,
    PrivateEndpointArgs,
)
from opcloud.components.azure.storage import AzureDocumentStore

__all__ = [
    "AzureAppTier",
    "AzureAudit",
    "AzureBackups",
    "AzureDatabase",
    "AzureDocumentStore",
    "AzureKeys",
    "AzureKeysOutputs",
    "AzureNetwork",
    "AzureNetworkOutputs",
    "AzurePrivateEndpoint",
    "AzureResourceGroup",
    "PrivateEndpointArgs",
    "ResourceGroupArgs",
]
