"""The synth harness itself: parents, URNs, secrets masked in inputs, outputs and config."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
from opcloud.stacks.synth import Manifest, synthesize_program


class _Part(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("opcloud:test:Part", name, None, None)
        password = pulumi.Config("opcloud").require_secret("dbPassword")
        self.secret = aws.ssm.Parameter(
            f"{name}-param", type="SecureString", value=password, opts=pulumi.ResourceOptions(parent=self)
        )
        self.plain = aws.ssm.Parameter(
            f"{name}-plain", type="String", value="x", description="visible", opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})


def _program() -> None:
    part = _Part("part")
    pulumi.export("plain", part.plain.arn)
    pulumi.export("password", part.secret.value)
    pulumi.export("literal", pulumi.Output.secret("hush"))


def _synth() -> Manifest:
    return synthesize_program(
        _program, stack="unit", config={"opcloud:dbPassword": "s3cr3t-value"}, secret_keys=["opcloud:dbPassword"]
    )


def test_resources_keep_their_parent_and_urn() -> None:
    manifest = _synth()
    part = manifest.one("opcloud:test:Part")
    assert sorted(r.name for r in manifest.children(part.urn)) == ["part-param", "part-plain"]
    assert (
        manifest.named("part-plain").urn
        == "urn:pulumi:unit::opcloud::opcloud:test:Part$aws:ssm/parameter:Parameter::part-plain"
    )
    assert part.parent == "urn:pulumi:unit::opcloud::pulumi:pulumi:Stack::opcloud-unit"


def test_secrets_never_reach_the_manifest() -> None:
    manifest = _synth()
    assert manifest.named("part-param").inputs["value"] == "[secret]"
    assert manifest.named("part-plain").inputs["description"] == "visible"
    assert manifest.outputs["password"] == "[secret]"
    assert manifest.outputs["literal"] == "[secret]"
    assert manifest.outputs["plain"] == "arn:aws:ssm:mock:123456789012:part-plain"
    text = json.dumps(manifest.to_json())
    assert "s3cr3t-value" not in text and "hush" not in text


def test_two_synths_in_one_process_do_not_leak_into_each_other() -> None:
    first, second = _synth(), _synth()
    assert len(first.resources) == len(second.resources) == 3
    assert set(first.outputs) == set(second.outputs) == {"plain", "password", "literal"}


def test_manifest_round_trips_through_json() -> None:
    manifest = _synth()
    assert Manifest.from_json(json.loads(json.dumps(manifest.to_json()))).to_json() == manifest.to_json()
