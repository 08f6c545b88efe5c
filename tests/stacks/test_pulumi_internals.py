"""Pins the Pulumi SDK internals opcloud relies on (stacks/pulumi_internals.py): an SDK upgrade that changes
them fails here, by name."""

from __future__ import annotations

import pulumi
from opcloud.stacks.pulumi_internals import is_policy_proxy, is_policy_unknown, wait
from opcloud.stacks.synth import synthesize_program
from pulumi_policy.proxy import unknown_checking_proxy

# The engine's marker for a string not known until `up` (the Pulumi resource protocol's constant).
ENGINE_UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def test_a_program_runs_under_the_synth_mocks_and_outputs_resolve() -> None:
    def program() -> None:
        bucket = pulumi.CustomResource("test:index:Thing", "thing", {"size": 3})
        pulumi.export("id", bucket.id)

    manifest = synthesize_program(program, stack="pin", config={})
    thing = manifest.one("test:index:Thing")
    assert thing.name == "thing" and thing.inputs == {"size": 3}
    assert "id" in manifest.outputs
    assert wait(pulumi.Output.from_input(7).future()) == 7


def test_the_policy_engines_unknowns_and_proxies_are_recognised() -> None:
    assert is_policy_unknown(ENGINE_UNKNOWN_STRING)
    assert not is_policy_unknown("eu-west-1")
    proxied = unknown_checking_proxy({"tags": {"owner": "x"}, "ports": [443]})
    assert is_policy_proxy(proxied["tags"]) and is_policy_proxy(proxied["ports"])
    assert not is_policy_proxy({"owner": "x"})
