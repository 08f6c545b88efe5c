"""Item 8 of issue 14 on the Jenkins test stand: encryption at host, and passwords that expire with the stand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pulumi
import pytest
from opcloud.stacks.program import run
from opcloud.stacks.synth import Manifest, synthesize_program
from opcloud.stand.components.vault import ADMIN_SECRET, AGENT_SECRET, StandVault, StandVaultArgs
from pulumi.runtime import rpc

from opcloud.config.environment import open_stack

EXPIRES = "2026-05-04T18:00:00Z"


@pytest.fixture(scope="module")
def stand() -> Manifest:
    config: dict[str, Any] = {
        **open_stack("test-stand").config,
        "opcloud:standName": "alice-ab12",
        "opcloud:owner": "alice",
        "opcloud:expiresAt": EXPIRES,
        "opcloud:instance": "a1b2c3",
        "opcloud:adminPassword": "admin-Pa55word-of-sixteen-plus",
        "opcloud:agentPassword": "agent-Pa55word-of-sixteen-plus",
    }
    return synthesize_program(
        run,
        stack="test-stand-alice-ab12",
        config=config,
        secret_keys=["opcloud:adminPassword", "opcloud:agentPassword"],
    )


def test_controller_and_agents_encrypt_at_host(stand: Manifest) -> None:
    vm = stand.one("azure-native:compute:VirtualMachine").inputs
    assert vm["securityProfile"]["encryptionAtHost"] is True
    agents = stand.one("azure-native:compute:VirtualMachineScaleSet").inputs
    assert agents["virtualMachineProfile"]["securityProfile"]["encryptionAtHost"] is True


class _Recorder(pulumi.runtime.Mocks):
    """Pulumi mocks that keep each resource's inputs as the provider would receive them (secrets unwrapped).

    The synth manifest masks a secret's whole `properties` (its value is a secret), so the expiry beside
    the value can only be seen here, where the provider would see it.
    """

    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[args.name] = dict(args.inputs)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def test_vault_secrets_expire_with_the_stand() -> None:
    recorder = _Recorder()
    pulumi.runtime.set_mocks(recorder, preview=False)
    expires_at = datetime(2026, 5, 4, 18, 0, tzinfo=UTC)

    @pulumi.runtime.test
    def declare() -> pulumi.Output[Any]:
        vault = StandVault(
            "stand",
            StandVaultArgs(
                "rg",
                "westeurope",
                "stand-kv",
                "tenant",
                [],
                pulumi.Output.secret("a" * 24),
                pulumi.Output.secret("b" * 24),
                {},
                expires_at,
            ),
        )
        return pulumi.Output.all(vault.vault_id, vault.agent_secret_id, vault.key_id)

    declare()
    for secret in (ADMIN_SECRET, AGENT_SECRET):
        properties = recorder.inputs[f"stand-{secret}"]["properties"]
        assert rpc.is_rpc_secret(properties)  # the password never travels in clear
        attributes = rpc.unwrap_rpc_secret(properties)["attributes"]
        assert attributes == {"enabled": True, "expires": expires_at.timestamp()}, secret
