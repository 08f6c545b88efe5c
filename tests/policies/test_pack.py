"""The pack loads under pulumi-policy and its analyzer runs the very rules, without serving gRPC."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi_policy as pp
import pytest
from google.protobuf import struct_pb2
from opcloud.policies.model import SECRET, UNKNOWN, Enforcement, ResourceView
from opcloud.policies.pack import PACK_NAME, _context, build_policies
from opcloud.policies.rules import ALL_RULES
from opcloud.stacks.synth import UNKNOWN_PLACEHOLDER
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import policy as pp_policy

from opcloud.config.environment import SECRET_PLACEHOLDER

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


def test_every_rule_becomes_a_policy_with_its_metadata() -> None:
    policies = build_policies()
    assert [p.name for p in policies] == [r.name for r in ALL_RULES]
    assert len({p.name for p in policies}) == len(policies)
    for policy, rule in zip(policies, ALL_RULES, strict=True):
        assert policy.enforcement_level.value == rule.enforcement.value
        assert policy.framework is not None and policy.framework.reference == rule.control.id
        assert isinstance(policy, pp.StackValidationPolicy if rule.needs_stack else pp.ResourceValidationPolicy)
    assert all(r.enforcement is Enforcement.MANDATORY for r in ALL_RULES if r.control.id == "A.5.34")


def test_rules_read_the_placeholders_synth_writes() -> None:
    assert (UNKNOWN, SECRET) == (UNKNOWN_PLACEHOLDER, SECRET_PLACEHOLDER)


def test_engine_context_falls_back_to_the_resources_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """No config from Pulumi and no environment file for the stack: the jurisdiction tag decides."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    urn = "urn:pulumi:nowhere-prod::opcloud::aws:s3/bucket:Bucket::docs"
    tags = {"jurisdiction": "UA", "environment": "prod"}
    context = _context([ResourceView(urn, "aws:s3/bucket:Bucket", "docs", {"tags": tags})])
    assert (context.stack, context.jurisdiction, context.environment) == ("nowhere-prod", "UA", "prod")
    assert context.backup is None  # the backup rules then report the policy as unknown


class _FakeServer:
    def add_insecure_port(self, address: str) -> int:
        return 0

    def start(self) -> None:
        pass

    def stop(self, grace: int) -> None:
        pass


@pytest.fixture
def servicer(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run policies/__main__.py as Pulumi would, keeping the analyzer instead of serving it."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(pp_policy.grpc, "server", lambda *a, **k: _FakeServer())
    monkeypatch.setattr(
        pp_policy.analyzer_pb2_grpc, "add_AnalyzerServicer_to_server", lambda s, _: captured.setdefault("s", s)
    )

    def stop(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pp_policy.time, "sleep", stop)
    monkeypatch.setattr(pp_policy.sys, "stdout", _Stdout())  # the pack prints its port there
    monkeypatch.setenv("PULUMI_STACK", "prozorro-sale-prod")
    runpy.run_path(str(PACK_DIR / "__main__.py"), run_name="__main__")
    return captured["s"]


class _Sink:
    def write(self, data: bytes) -> int:
        return len(data)


class _Stdout:
    buffer = _Sink()

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def test_pack_main_assembles_the_pack(servicer: Any) -> None:
    info = servicer.GetAnalyzerInfo(None, None)
    assert info.name == PACK_NAME
    assert {p.name for p in info.policies} == {r.name for r in ALL_RULES}


def test_analyzer_reports_a_public_database(servicer: Any) -> None:
    urn = "urn:pulumi:prozorro-sale-prod::opcloud::aws:rds/instance:Instance::db"
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:rds/instance:Instance", urn=urn, name="db", properties=_struct({"publiclyAccessible": True})
    )
    response = servicer.Analyze(request, None)
    names = {d.policyName for d in response.diagnostics}
    assert "database-not-public" in names
    private = analyzer_pb2.AnalyzeRequest(
        type="aws:rds/instance:Instance", urn=urn, name="db", properties=_struct({"publiclyAccessible": False})
    )
    assert "database-not-public" not in {d.policyName for d in servicer.Analyze(private, None).diagnostics}


def test_analyzer_runs_stack_rules_across_resources(servicer: Any) -> None:
    prefix = "urn:pulumi:prozorro-sale-prod::opcloud::"
    bucket = analyzer_pb2.AnalyzerResource(
        type="aws:s3/bucket:Bucket",
        urn=prefix + "aws:s3/bucket:Bucket::docs",
        name="docs",
        properties=_struct({"bucket": "docs-bucket", "region": "us-east-1"}),
    )
    response = servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[bucket]), None)
    messages = {d.policyName: d.message for d in response.diagnostics}
    assert "outside jurisdiction EU" in messages["data-residency"]
    assert "encryption-at-rest-cmk" in messages
