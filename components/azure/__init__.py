"""The platform's parts on Azure (pulumi-azure-native v3)."""

from components.azure.app import AzureAppTier
from components.azure.audit import AzureAudit
from components.azure.backup import AzureBackups
from components.azure.database import AzureDatabase
from components.azure.group import AzureResourceGroup, ResourceGroupArgs
from components.azure.keys import AzureKeys, AzureKeysOutputs
from components.azure.network import AzureNetwork, AzureNetworkOutputs, AzurePrivateEndpoint, PrivateEndpointArgs
from components.azure.storage import AzureDocumentStore

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
