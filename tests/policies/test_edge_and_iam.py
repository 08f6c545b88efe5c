"""Load balancer, WAF and IAM rules: a compliant resource passes, each violation is caught."""

from __future__ import annotations

import json
from dataclasses import replace

from opcloud.policies.rules.edge import load_balancer_hardening, tls_to_hosts, waf_protects_entry
from opcloud.policies.rules.iam import iam_least_privilege, iam_no_admin_policies, iam_role_trust, kms_key_policy

from tests.policies.conftest import EU_AWS, IE_AZURE, make, verdict

LB = "aws:lb/loadBalancer:LoadBalancer"
ACL = "aws:wafv2/webAcl:WebAcl"
GOOD_LB = {
    "loadBalancerType": "application",
    "dropInvalidHeaderFields": True,
    "accessLogs": {"bucket": "logs", "enabled": True},
    "enableDeletionProtection": True,
}
MANAGED = {"managedRuleGroupStatement": {"name": "AWSManagedRulesKnownBadInputsRuleSet", "vendorName": "AWS"}}


def test_load_balancer_hardening() -> None:
    assert verdict(load_balancer_hardening, make(LB, "alb", **GOOD_LB)) is True
    assert verdict(load_balancer_hardening, make(LB, "alb", **{**GOOD_LB, "dropInvalidHeaderFields": False})) is False
    assert verdict(load_balancer_hardening, make(LB, "alb", **{**GOOD_LB, "accessLogs": None})) is False
    monitor = {**GOOD_LB, "desyncMitigationMode": "monitor"}
    assert verdict(load_balancer_hardening, make(LB, "alb", **monitor)) is False
    unprotected = {**GOOD_LB, "enableDeletionProtection": False}
    assert verdict(load_balancer_hardening, make(LB, "alb", **unprotected)) is False
    assert (
        verdict(load_balancer_hardening, make(LB, "alb", **unprotected), context=replace(EU_AWS, environment="qa"))
        is True
    )


def test_tls_from_the_load_balancer_to_the_hosts() -> None:
    tg = "aws:lb/targetGroup:TargetGroup"
    https = make(tg, "tg", protocol="HTTPS", healthCheck={"protocol": "HTTPS", "path": "/health"})
    assert verdict(tls_to_hosts, https) is True
    assert verdict(tls_to_hosts, make(tg, "tg", protocol="HTTP", healthCheck={"protocol": "HTTP"})) is False
    assert verdict(tls_to_hosts, make(tg, "tg", protocol="HTTPS", healthCheck={"path": "/health"})) is False
    gateway = "azure-native:network:ApplicationGateway"
    good = make(
        gateway,
        "gw",
        backendHttpSettingsCollection=[{"name": "b", "protocol": "Https"}],
        probes=[{"name": "p", "protocol": "Https"}],
    )
    assert verdict(tls_to_hosts, good, context=IE_AZURE) is True
    plain = make(gateway, "gw", backendHttpSettingsCollection=[{"name": "b", "protocol": "Http"}])
    assert verdict(tls_to_hosts, plain, context=IE_AZURE) is False


def test_public_load_balancer_behind_a_logged_waf_with_log4shell_rules() -> None:
    alb = make(LB, "alb", **GOOD_LB)
    rules = [{"name": "bad-inputs", "overrideAction": {"none": {}}, "statement": MANAGED}]
    acl = make(ACL, "waf", rules=rules)
    association = make(
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "a",
        resourceArn="arn:aws:lb:mock:123456789012:alb",
        webAclArn="arn:aws:wafv2:mock:123456789012:waf",
    )
    logging = make(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        "l",
        resourceArn="arn:aws:wafv2:mock:123456789012:waf",
    )
    assert verdict(waf_protects_entry, alb, acl, association, logging) is True
    assert verdict(waf_protects_entry, alb, acl, association) is False  # not logged
    assert verdict(waf_protects_entry, alb) is False  # no WAF at all
    no_log4j = make(ACL, "waf", rules=[{"name": "r", "action": {"block": {}}, "statement": {}}])
    assert verdict(waf_protects_entry, alb, no_log4j, association, logging) is False


def test_azure_gateway_waf_must_block() -> None:
    gateway = make(
        "azure-native:network:ApplicationGateway", "gw", sku={"tier": "WAF_v2"}, firewallPolicy={"id": "waf-id"}
    )
    settings = {"state": "Enabled", "mode": "Prevention"}
    owasp = {"managedRuleSets": [{"ruleSetType": "OWASP", "ruleSetVersion": "3.2"}]}
    policy = make(
        "azure-native:network:WebApplicationFirewallPolicy", "waf", policySettings=settings, managedRules=owasp
    )
    assert verdict(waf_protects_entry, gateway, policy, context=IE_AZURE) is True
    detect = make(
        "azure-native:network:WebApplicationFirewallPolicy",
        "waf",
        policySettings={**settings, "mode": "Detection"},
        managedRules=owasp,
    )
    assert verdict(waf_protects_entry, gateway, detect, context=IE_AZURE) is False
    assert verdict(waf_protects_entry, gateway, context=IE_AZURE) is False


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_iam_least_privilege() -> None:
    role_policy = "aws:iam/rolePolicy:RolePolicy"
    named = {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "arn:aws:logs:eu-west-1:1:log-group:x:*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(named))) is True
    star = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(star))) is False
    service_star = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(service_star))) is False
    full_iam = {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::1:role/x"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(full_iam))) is False
    escalate = {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(escalate))) is False
    write = {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(write))) is False
    describe = {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(describe))) is True
    exfiltrate = {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}
    assert verdict(iam_least_privilege, make(role_policy, "p", policy=_policy(exfiltrate))) is False
    assert verdict(iam_least_privilege, make(role_policy, "p", policy="not json")) is False


def test_role_trust_and_admin_policies() -> None:
    role = "aws:iam/role:Role"
    service = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert verdict(iam_role_trust, make(role, "r", assumeRolePolicy=_policy(service))) is True
    anyone = {**service, "Principal": {"AWS": "*"}}
    assert verdict(iam_role_trust, make(role, "r", assumeRolePolicy=_policy(anyone))) is False
    attachment = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    ssm = make(attachment, "a", policyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    assert verdict(iam_no_admin_policies, ssm) is True
    admin = make(attachment, "a", policyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert verdict(iam_no_admin_policies, admin) is False


def test_kms_key_policy() -> None:
    key = "aws:kms/key:Key"
    root = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"}
    assert verdict(kms_key_policy, make(key, "k", policy=_policy(root))) is True
    anyone = {**root, "Principal": {"AWS": "*"}}
    assert verdict(kms_key_policy, make(key, "k", policy=_policy(anyone))) is False
    assert verdict(kms_key_policy, make(key, "k")) is False  # the default policy
    assert verdict(kms_key_policy, make(key, "k", policy=_policy(root), isEnabled=False)) is False
