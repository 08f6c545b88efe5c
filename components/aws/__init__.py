"""The platform's parts on AWS (pulumi-aws)."""

from opcloud.components.aws.app import AwsAppTier
from opcloud.components.aws.audit import AwsAudit
from opcloud.components.aws.backup import AwsBackups
from opcloud.components.aws.database import AwsDatabase
from opcloud.components.aws.keys import AwsKeys
from opcloud.components.aws.network import AwsNetwork
from opcloud.components.aws.storage import AwsDocumentStore

__all__ = ["AwsAppTier", "AwsAudit", "AwsBackups", "AwsDatabase", "AwsDocumentStore", "AwsKeys", "AwsNetwork"]
