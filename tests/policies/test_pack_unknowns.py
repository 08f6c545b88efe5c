"""The pack and `stack check` agree on a first preview: every computed output reaches the pack as the engine's
unknown sentinel, and an unknown is "will be known" (checked again at `up`), never a mandatory violation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import struct_pb2
from opcloud.stacks.mocks import MOCK_ACCOUNT
from opcloud.stacks.synth import Manifest
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2

from tests.policies.test_pack import servicer  # noqa: F401  (the fixture running policies/__main__.py)

Synth = Callable[[str], Manifest]
MANDATORY = analyzer_pb2.EnforcementLevel.Value("MANDATORY")


def _computed_tokens(manifest: Manifest) -> dict[str, str]:
    """Values the provider computes at create time (ids, ARNs, DNS names), as synth's mocks hand them out,
    each with the URN of the resource it comes from."""
    tokens: dict[str, str] = {}
    for r in manifest.resources:
        tokens[f"{r.name}-id"] = r.urn
        service = r.type.partition(":")[2].split("/")[0].split(":")[0]
        tokens[f"arn:aws:{service}:mock:{MOCK_ACCOUNT}:{r.name}"] = r.urn
        tokens[f"{r.name}.synth."] = r.urn
    return tokens


def _unknowns(value: Any, pattern: re.Pattern[str], tokens: dict[str, str], deps: set[str]) -> Any:
    """The value as the engine sends it on a first preview: anything built from a computed output is unknown."""
    if isinstance(value, dict):
        return {k: _unknowns(v, pattern, tokens, deps) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknowns(v, pattern, tokens, deps) for v in value]
    if isinstance(value, str):
        found = pattern.findall(value)
        if found:
            deps.update(tokens[t] for t in found)
            return rpc.UNKNOWN
    return value


def _first_preview(manifest: Manifest) -> list[analyzer_pb2.AnalyzerResource]:
    tokens = _computed_tokens(manifest)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    resources = []
    for r in manifest.resources:
        properties: dict[str, Any] = {}
        dependencies: dict[str, analyzer_pb2.AnalyzerPropertyDependencies] = {}
        for key, value in r.inputs.items():
            deps: set[str] = set()
            properties[key] = _unknowns(value, pattern, tokens, deps)
            if deps:
                dependencies[key] = analyzer_pb2.AnalyzerPropertyDependencies(urns=sorted(deps))
        struct = struct_pb2.Struct()
        struct.update(properties)
        resources.append(
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                urn=r.urn,
                name=r.name,
                properties=struct,
                parent=r.parent or "",
                propertyDependencies=dependencies,
            )
        )
    return resources


def _unknown_count(resources: list[analyzer_pb2.AnalyzerResource]) -> int:
    return sum(str(r.properties).count(rpc.UNKNOWN) for r in resources)


@pytest.mark.parametrize("stack", ["prozorro-sale-prod", "prokuria-eu-prod"])
def test_first_preview_with_unknown_outputs_has_no_mandatory_violation(
    stack: str,
    synthesized: Synth,
    servicer: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_STACK", stack)
    resources = _first_preview(synthesized(stack))
    assert _unknown_count(resources) > 50, "the preview must really carry unknowns"
    response = servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), None)
    per_resource = [
        d
        for r in resources
        for d in servicer.Analyze(
            analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, properties=r.properties), None
        ).diagnostics
    ]
    mandatory = [
        f"{d.policyName}: {d.message}"
        for d in [*response.diagnostics, *per_resource]
        if d.enforcementLevel == MANDATORY
    ]
    assert mandatory == [], "\n".join(m.replace("\n", " | ") for m in mandatory)


def test_a_real_violation_still_shows_through_the_unknowns(
    synthesized: Synth,
    servicer: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_STACK", "prozorro-sale-prod")
    manifest = synthesized("prozorro-sale-prod")
    for i, r in enumerate(manifest.resources):
        if r.type == "aws:rds/instance:Instance":
            manifest.resources[i] = type(r)(r.urn, r.type, r.name, r.parent, {**r.inputs, "publiclyAccessible": True})
    resources = _first_preview(manifest)
    response = servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), None)
    per_resource = [
        d.policyName
        for r in resources
        for d in servicer.Analyze(
            analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, properties=r.properties), None
        ).diagnostics
    ]
    assert "database-not-public" in {d.policyName for d in response.diagnostics} | set(per_resource)


def _mandatory(analyzer: Any, resources: list[analyzer_pb2.AnalyzerResource]) -> set[str]:
    stack = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), None).diagnostics
    single = [
        d
        for r in resources
        for d in analyzer.Analyze(
            analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, properties=r.properties), None
        ).diagnostics
    ]
    return {d.policyName for d in [*stack, *single] if d.enforcementLevel == MANDATORY}


def test_the_pack_judges_an_iaas_stack_through_the_same_adapter(
    synthesized: Synth,
    servicer: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_STACK", "prozorro-ua-prod")
    manifest = synthesized("prozorro-ua-prod")
    assert _mandatory(servicer, _first_preview(manifest)) == set()
    for i, r in enumerate(manifest.resources):
        if r.inputs.get("kind") == "nfs-mount":
            spec = {**r.inputs["spec"], "sec": "sys", "server": "172.20.250.20"}  # no privacy, a filer in Moldova
            manifest.resources[i] = type(r)(r.urn, r.type, r.name, r.parent, {**r.inputs, "spec": spec})
    assert {"iaas-storage-protocols", "data-residency"} <= _mandatory(servicer, _first_preview(manifest))
