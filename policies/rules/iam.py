"""AWS identity and access: least privilege in inline policies, narrow role trust, no admin policies, key policies.

Inline policy documents are read as JSON; AWS-managed policies attached by ARN cannot be read here, so only
the known all-powerful ones are refused by name. ISO/IEC 27001 A.5.23 (information security for use of
cloud services) is the control: these are the cloud's own access rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_5_23,
    A_8_24,
    UNKNOWN,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
)

# Actions that hand out more power, credentials or data when granted on every resource (Checkov's lists,
# trimmed to the services we run).
PRIVILEGE_ESCALATION = {
    "iam:attachgrouppolicy",
    "iam:attachrolepolicy",
    "iam:attachuserpolicy",
    "iam:createaccesskey",
    "iam:createloginprofile",
    "iam:createpolicyversion",
    "iam:passrole",
    "iam:putgrouppolicy",
    "iam:putrolepolicy",
    "iam:putuserpolicy",
    "iam:setdefaultpolicyversion",
    "iam:updateassumerolepolicy",
    "iam:updateloginprofile",
    "sts:assumerole",
}
CREDENTIALS_EXPOSURE = {
    "ecr:getauthorizationtoken",
    "iam:updateaccesskey",
    "rds-db:connect",
    "redshift:getclustercredentials",
    "sts:getfederationtoken",
    "sts:getsessiontoken",
}
DATA_EXFILTRATION = {
    "s3:getobject",
    "secretsmanager:getsecretvalue",
    "ssm:getparameter",
    "ssm:getparameters",
    "ssm:getparametersbypath",
    "kms:decrypt",
}
READ_ONLY_VERBS = ("describe", "list")
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")


def _read_only(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return verb.startswith(READ_ONLY_VERBS) and "*" not in verb


def _statements(document: Any) -> Iterator[Mapping[str, Any]]:
    parsed = res.parse_json(document)
    if isinstance(parsed, Mapping):
        yield from (s for s in res.as_list(parsed.get("Statement")) if isinstance(s, Mapping))


def _allow_problems(statement: Mapping[str, Any]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    actions = [str(a).lower() for a in res.as_list(statement.get("Action"))]
    resources = [str(r) for r in res.as_list(statement.get("Resource"))]
    problems = []
    if "*" in actions:
        problems.append('Action "*"')
    if "iam:*" in actions:
        problems.append('"iam:*" (full IAM privileges)')
    if "NotAction" in statement:
        problems.append("NotAction (grants everything else)")
    if "*" in resources and not statement.get("Condition"):
        risky = [a for a in actions if a in PRIVILEGE_ESCALATION | CREDENTIALS_EXPOSURE | DATA_EXFILTRATION]
        # Anything but describing and listing changes, exposes or manages: never on every resource.
        unbounded = [a for a in actions if a not in risky and a != "*" and not _read_only(a)]
        if risky:
            problems.append(f"{', '.join(sorted(risky))} on every resource")
        if unbounded:
            problems.append(f"{', '.join(sorted(unbounded))} on every resource without a condition")
    return problems


@resource_rule(
    name="iam-least-privilege",
    description="Inline IAM policies grant named actions on named resources: no '*' or 'iam:*' action, and on "
    "every resource ('*') without a condition nothing but Describe/List actions.",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="Name the actions and the resource ARNs the service needs; add a condition where '*' is unavoidable.",
    not_applicable={
        "azure": "Azure access is granted by role assignments of built-in roles (tested per component)",
        "iaas": "no cloud IAM on a VM-only cloud",
    },
)
def iam_least_privilege(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in (*res.IAM_ROLE_POLICY, *res.IAM_POLICY):
        return None
    document = resource.get("policy")
    if document == UNKNOWN:
        return [pending("the policy document")]
    if res.parse_json(document) is None:
        return [(False, "policy document cannot be read")]
    problems = [p for s in _statements(document) for p in _allow_problems(s)]
    if problems:
        return [(False, "; ".join(problems))]
    return [(True, "named actions on named resources")]


@resource_rule(
    name="iam-role-trust",
    description="Each role can be assumed only by named AWS services or accounts, never by '*'.",
    control=A_5_23,
    severity=Severity.HIGH,
    remediation="Name the service principal (e.g. ec2.amazonaws.com) in the assume-role policy.",
    not_applicable={
        "azure": "Azure managed identities are not assumable by other principals",
        "iaas": "no cloud IAM on a VM-only cloud",
    },
)
def iam_role_trust(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.IAM_ROLE:
        return None
    if resource.get("assumeRolePolicy") == UNKNOWN:
        return [pending("the assume-role policy")]
    statements = list(_statements(resource.get("assumeRolePolicy")))
    if not statements:
        return [(False, "assume-role policy cannot be read")]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        values = (
            [v for vs in principal.values() for v in res.as_list(vs)]
            if isinstance(principal, Mapping)
            else res.as_list(principal)
        )
        if "*" in [str(v) for v in values] or not values:
            return [(False, "assumable by any principal")]
    return [(True, "assumable by named principals only")]


@resource_rule(
    name="iam-no-admin-policies",
    description="No role gets an all-powerful AWS-managed policy (AdministratorAccess, IAMFullAccess, "
    "PowerUserAccess).",
    control=A_5_23,
    severity=Severity.CRITICAL,
    remediation="Attach a policy with the actions the role needs instead.",
    not_applicable={
        "azure": "Azure access is granted by role assignments of built-in roles (tested per component)",
        "iaas": "no cloud IAM on a VM-only cloud",
    },
)
def iam_no_admin_policies(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    arns = []
    if resource.type in res.IAM_ATTACHMENT:
        arns = [str(resource.get("policyArn", ""))]
    elif resource.type in res.IAM_ROLE:
        arns = [str(a) for a in res.as_list(resource.get("managedPolicyArns"))]
    else:
        return None
    admin = [a for a in arns if a.rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES]
    if admin:
        return [(False, f"attaches {', '.join(admin)}")]
    if resource.type in res.IAM_ROLE and not arns:
        return None
    return [(True, "no all-powerful managed policy")]


@resource_rule(
    name="kms-key-policy",
    description="Every KMS key has its own key policy, and no statement allows '*' as principal without a "
    "condition; the key is enabled.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Give the key a policy naming the account root and the services (with aws:SourceAccount).",
    not_applicable={
        "azure": "Key Vault uses RBAC, not key policies (key-vault-private, key-hardening)",
        "iaas": "no managed key service on a VM-only cloud",
    },
)
def kms_key_policy(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.KMS_KEY:
        return None
    if resource.get("isEnabled") is False:
        return [(False, "the key is disabled")]
    if resource.get("policy") == UNKNOWN:
        return [pending("the key policy")]
    statements = list(_statements(resource.get("policy")))
    if not statements:
        return [(False, "no key policy of its own (the default lets every IAM policy of the account use it)")]
    for statement in statements:
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
        if statement.get("Effect") == "Allow" and "*" in res.as_list(aws) and not statement.get("Condition"):
            return [(False, f"statement {statement.get('Sid', '?')} allows any principal")]
    return [(True, "key policy names its principals")]


RULES = (iam_least_privilege, iam_role_trust, iam_no_admin_policies, kms_key_policy)
