"""The public entry: load balancer hardening, TLS to the hosts, and the web application firewall in front."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_20,
    A_8_24,
    UNKNOWN,
    ResourceView,
    Severity,
    StackView,
    Verdict,
    pending,
    resource_rule,
)
from opcloud.policies.rules import links

# Managed rule groups that block the Log4Shell lookup (CVE-2021-44228).
AWS_LOG4J_GROUPS = ("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAnonymousIpList")
AZURE_LOG4J_OWASP = ("3.1", "3.2")
DESYNC_OK = ("defensive", "strictest")


@resource_rule(
    name="load-balancer-hardening",
    description="Application load balancers drop invalid headers, mitigate request desync, log every request "
    "and, in production, cannot be deleted by accident.",
    control=A_8_20,
    severity=Severity.MEDIUM,
    remediation="dropInvalidHeaderFields true, desyncMitigationMode defensive, accessLogs enabled, "
    "enableDeletionProtection true in production.",
    not_applicable={
        "azure": "the Application Gateway is judged by waf-protects-entry and tls-to-hosts",
        "iaas": "HAProxy/keepalived are configured by host steps",
        "program:test-stand": "the test stand has no load balancer",
    },
)
def load_balancer_hardening(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type not in res.LB or resource.get("loadBalancerType", "application") != "application":
        return None
    problems = []
    if not res.truthy(resource.get("dropInvalidHeaderFields")):
        problems.append("invalid headers are passed on")
    if resource.get("desyncMitigationMode", "defensive") not in DESYNC_OK:
        problems.append(f"desyncMitigationMode {resource.get('desyncMitigationMode')}")
    if not resource.get("accessLogs.bucket") or resource.get("accessLogs.enabled") is False:
        problems.append("no access logs")
    if stack.context.production and not res.truthy(resource.get("enableDeletionProtection")):
        problems.append("deletion protection off")
    return [(not problems, "; ".join(problems) or "headers checked, desync mitigated, logged, protected")]


@resource_rule(
    name="tls-to-hosts",
    description="The load balancer speaks TLS to the hosts too, and checks their health over TLS: nothing "
    "crosses the network in clear text behind the entry.",
    control=A_8_24,
    severity=Severity.HIGH,
    remediation="Target groups protocol HTTPS with an HTTPS health check; Application Gateway backend settings "
    "and probes Https.",
    not_applicable={
        "iaas": "HAProxy to hosts is configured by host steps",
        "program:test-stand": "the test stand has no load balancer: Jenkins terminates TLS itself",
    },
)
def tls_to_hosts(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.TARGET_GROUP:
        if resource.get("targetType") == "lambda":
            return None
        problems = []
        if resource.get("protocol") not in ("HTTPS", "TLS"):
            problems.append(f"protocol {resource.get('protocol', 'unset')}")
        check = resource.get("healthCheck") or {}
        if not check:
            problems.append("no health check")
        elif check.get("protocol") not in ("HTTPS", "TLS"):
            problems.append(f"health check over {check.get('protocol', 'HTTP (default)')}")
        return [(not problems, "; ".join(problems) or "HTTPS to the hosts, HTTPS health check")]
    if resource.type in res.AZ_APP_GATEWAY:
        settings = [s for s in res.as_list(resource.get("backendHttpSettingsCollection")) if isinstance(s, Mapping)]
        probes = [p for p in res.as_list(resource.get("probes")) if isinstance(p, Mapping)]
        plain = [str(s.get("name")) for s in settings if s.get("protocol") != "Https"]
        plain += [f"probe {p.get('name')}" for p in probes if p.get("protocol") != "Https"]
        if not settings:
            return [(False, "no backend settings")]
        return [(not plain, f"plain HTTP: {', '.join(plain)}" if plain else "HTTPS to the hosts and probes")]
    return None


def _aws_waf_verdicts(acl: ResourceView, stack: StackView) -> list[Verdict]:
    problems = []
    rules = [r for r in res.as_list(acl.get("rules")) if isinstance(r, Mapping)]
    if not rules:
        problems.append("no rules")
    for rule in rules:
        if not (rule.get("action") or rule.get("overrideAction")):
            problems.append(f"rule {rule.get('name')} has no action")
    groups = {str((r.get("statement") or {}).get("managedRuleGroupStatement", {}).get("name", "")) for r in rules}
    if not groups & set(AWS_LOG4J_GROUPS):
        problems.append("no managed rule group blocking Log4Shell (AWSManagedRulesKnownBadInputsRuleSet)")
    if not stack.referencing(acl, *res.WAF_LOGGING, prop="resourceArn"):
        problems.append("no logging configuration")
    return [(not problems, "; ".join(problems) or "rules with actions, Log4Shell blocked, logged")]


def _azure_waf_verdicts(policy: ResourceView) -> list[Verdict]:
    problems = []
    settings: Mapping[str, Any] = policy.get("policySettings") or {}
    if settings.get("state") != "Enabled":
        problems.append("policy not enabled")
    if settings.get("mode") not in ("Prevention", "Detection"):
        problems.append(f"mode {settings.get('mode', 'unset')}")
    elif settings.get("mode") != "Prevention":
        problems.append("Detection mode only: attacks are logged, not blocked")
    sets = [s for s in res.as_list(policy.get("managedRules.managedRuleSets")) if isinstance(s, Mapping)]
    owasp = [s for s in sets if s.get("ruleSetType") == "OWASP" and str(s.get("ruleSetVersion")) in AZURE_LOG4J_OWASP]
    if not owasp:
        problems.append("no OWASP 3.1+ rule set (Log4Shell rules)")
    return [(not problems, "; ".join(problems) or "enabled, Prevention, OWASP rules with Log4Shell")]


@resource_rule(
    name="waf-protects-entry",
    description="The public entry sits behind an enabled web application firewall that blocks (not only logs), "
    "runs managed rules including Log4Shell, and logs its decisions.",
    control=A_8_20,
    severity=Severity.HIGH,
    remediation="Associate a WAFv2 web ACL (AWS) / a WAF policy in Prevention mode (Azure) with the entry.",
    needs_stack=True,
    not_applicable={
        "iaas": "no managed WAF on a VM-only cloud: HAProxy rate limits are host steps",
        "program:test-stand": "the test stand has no public load balancer: its NSG admits only the allow-list",
    },
)
def waf_protects_entry(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.LB:
        if res.truthy(resource.get("internal")):
            return None
        acls = links.by_name(
            [
                acl
                for association in stack.referencing(resource, *res.WAF_ASSOCIATION, prop="resourceArn")
                for acl in links.pointed_at(stack, association, "webAclArn", *res.WAF_ACL)
            ]
        )
        if not acls:
            return [(False, "no web ACL associated with the public load balancer")]
        if acls[0].get("rules") == UNKNOWN:
            return [pending("the web ACL's rules")]
        return _aws_waf_verdicts(acls[0], stack)
    if resource.type in res.AZ_APP_GATEWAY:
        if str(resource.get("sku.tier", "")) != "WAF_v2":
            return [(False, f"gateway tier {resource.get('sku.tier', 'unset')} has no WAF")]
        policies = links.pointed_at(stack, resource, "firewallPolicy.id", *res.AZ_WAF_POLICY)
        if not policies:
            return [(False, "no WAF policy attached")]
        return _azure_waf_verdicts(policies[0])
    return None


RULES = (load_balancer_hardening, tls_to_hosts, waf_protects_entry)
