"""The platform's parts on AWS (pulumi-aws)."""

from components.aws.app import AwsAppTier
from components.aws.audit import AwsAudit
from components.aws.backup import AwsBackups
from components.aws.database import AwsDatabase
from components.aws.keys import AwsKeys
from components.aws.network import AwsNetwork
from components.aws.storage import AwsDocumentStore

__all__ = ["AwsAppTier", "AwsAudit", "AwsBackups", "AwsDatabase", "AwsDocumentStore", "AwsKeys", "AwsNetwork"]
