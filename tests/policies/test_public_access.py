from opcloud.policies.rules.public_access import database_not_public, no_world_open_data_ports, public_access_blocked

from tests.policies.conftest import make, run, verdict

FLAGS = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"


def test_bucket_public_access_block() -> None:
    bucket = make("aws:s3/bucket:Bucket", "docs")
    assert verdict(public_access_blocked, bucket, make(PAB, "pab", bucket="docs-id", **FLAGS)) is True
    partial = {**FLAGS, "restrictPublicBuckets": False}
    assert verdict(public_access_blocked, bucket, make(PAB, "pab", bucket="docs-id", **partial)) is False
    assert verdict(public_access_blocked, bucket) is False


def test_azure_storage_public_access() -> None:
    sa = "azure-native:storage:StorageAccount"
    closed = make(sa, "sa", allowBlobPublicAccess=False, publicNetworkAccess="Disabled")
    assert verdict(public_access_blocked, closed) is True
    assert verdict(public_access_blocked, make(sa, "sa", allowBlobPublicAccess=True)) is False
    assert verdict(public_access_blocked, make(sa, "sa", allowBlobPublicAccess=False)) is False  # open network


def test_database_not_public() -> None:
    rds = "aws:rds/instance:Instance"
    assert verdict(database_not_public, make(rds, "db", publiclyAccessible=False)) is True
    assert verdict(database_not_public, make(rds, "db", publiclyAccessible=True)) is False
    pg = "azure-native:dbforpostgresql:Server"
    assert verdict(database_not_public, make(pg, "pg", network={"publicNetworkAccess": "Disabled"})) is True
    assert verdict(database_not_public, make(pg, "pg", network={"publicNetworkAccess": "Enabled"})) is False
    fw = "azure-native:dbforpostgresql:FirewallRule"
    assert (
        verdict(database_not_public, make(fw, "fw", startIpAddress="0.0.0.0", endIpAddress="255.255.255.255")) is False
    )
    assert verdict(database_not_public, make(fw, "fw", startIpAddress="192.0.2.1", endIpAddress="192.0.2.14")) is True


def test_security_group_open_to_the_world_on_postgres_fails() -> None:
    sg = "aws:ec2/securityGroup:SecurityGroup"
    world = [{"protocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "cidrBlocks": ["0.0.0.0/0"]}]
    assert verdict(no_world_open_data_ports, make(sg, "sg", ingress=world)) is False
    https = [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["198.51.100.0/24"]}]
    assert verdict(no_world_open_data_ports, make(sg, "sg", ingress=https)) is True
    admin = [{"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["192.0.2.0/28"]}]
    assert verdict(no_world_open_data_ports, make(sg, "sg", ingress=admin)) is True
    every = [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}]
    assert verdict(no_world_open_data_ports, make(sg, "sg", ingress=every)) is False


def test_separate_ingress_rule_and_azure_nsg() -> None:
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert verdict(no_world_open_data_ports, make(rule, "r", cidrIpv6="::/0", fromPort=5432, toPort=5432)) is False
    nsg = "azure-native:network:NetworkSecurityGroup"
    open_ssh = {"direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "*", "destinationPortRange": "22"}
    assert verdict(no_world_open_data_ports, make(nsg, "nsg", securityRules=[open_ssh])) is False
    limited = {**open_ssh, "sourceAddressPrefix": "192.0.2.32/28"}
    assert verdict(no_world_open_data_ports, make(nsg, "nsg", securityRules=[limited])) is True
    deny = {**open_ssh, "access": "Deny"}
    assert verdict(no_world_open_data_ports, make(nsg, "nsg", securityRules=[deny])) is True


def test_a_rule_whose_ports_cannot_be_read_is_not_a_pass() -> None:
    sg = "aws:ec2/securityGroup:SecurityGroup"
    unreadable = [{"protocol": "tcp", "fromPort": "[unknown]", "toPort": "[unknown]", "cidrBlocks": ["0.0.0.0/0"]}]
    findings = run(no_world_open_data_ports, make(sg, "sg", ingress=unreadable))
    assert findings and not findings[0].evaluated and not findings[0].ok
