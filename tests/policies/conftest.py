"""Helpers for rule tests: resources built as views, a stack context, synthesized shipped stacks (cached)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from opcloud.policies.check import CheckResult, aliases_of, check_manifest, context_of
from opcloud.policies.model import BackupPolicy, Finding, ResourceView, Rule, StackContext, StackView
from opcloud.stacks.synth import Manifest, ManifestResource, synth

EU_AWS = StackContext(
    stack="test",
    jurisdiction="EU",
    environment="prod",
    cloud="aws",
    region="eu-west-1",
    copy_region="eu-central-1",
    backup=BackupPolicy("sunday", 5, 35),
)
IE_AZURE = StackContext(
    stack="test",
    jurisdiction="IE",
    environment="prod",
    cloud="azure",
    region="northeurope",
    geo_redundancy="zones",
    backup=BackupPolicy("sunday", 5, 35),
)
EU_AZURE = replace(IE_AZURE, jurisdiction="EU", copy_region="westeurope", geo_redundancy="region")


def make(type_: str, name: str = "r", **props: Any) -> ResourceView:
    """A resource as synth records it, with the ids and ARNs the synth mocks hand out."""
    resource = ManifestResource(f"urn:pulumi:test::opcloud::{type_}::{name}", type_, name, None, props)
    return ResourceView(resource.urn, type_, name, props, None, aliases_of(resource))


def run(rule: Rule, *resources: ResourceView, context: StackContext = EU_AWS) -> list[Finding]:
    return list(rule.run(StackView(context, list(resources))))


def verdict(rule: Rule, target: ResourceView, *others: ResourceView, context: StackContext = EU_AWS) -> bool | None:
    """True (passed) / False (violated) for `target`, None when the rule does not apply to it."""
    findings = [f for f in run(rule, target, *others, context=context) if f.urn == target.urn]
    if not findings:
        return None
    return all(f.ok for f in findings)


_MANIFESTS: dict[str, Manifest] = {}


@pytest.fixture(scope="session")
def synthesized() -> Callable[[str], Manifest]:
    """A fresh copy of a stack's manifest, synthesized once per session (tests mutate their copy)."""

    def get(stack: str) -> Manifest:
        if stack not in _MANIFESTS:
            _MANIFESTS[stack] = synth(stack)
        return Manifest.from_json(copy.deepcopy(_MANIFESTS[stack].to_json()))

    return get


def check(manifest: Manifest) -> CheckResult:
    return check_manifest(manifest, context_of(manifest.stack))
