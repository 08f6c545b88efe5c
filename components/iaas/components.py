"""The IaaS parts of DESIGN.md's table as ComponentResources, each holding one `HostStep` per host step.

The steps come from `components.iaas.plan` (the same plan `opcloud hosts apply` runs); each component
takes the steps of its row. Within a host the steps form a chain (`depends_on` the previous one), so the
volume is attached before LUKS, unlocked before the filesystem, mounted before PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from opcloud.components.iaas.provider import HostStep
from opcloud.hosts.script import Row, Step

from opcloud.config.environment import Environment, SecretRef, SshHost

COMPONENT_TYPES: dict[Row, str] = {
    "hosts": "opcloud:iaas:Hosts",
    "network": "opcloud:iaas:Network",
    "keys": "opcloud:iaas:Keys",
    "documents": "opcloud:iaas:DocumentStore",
    "database": "opcloud:iaas:Database",
    "backups": "opcloud:iaas:Backups",
    "app": "opcloud:iaas:AppTier",
    "audit": "opcloud:iaas:Audit",
}


class IaasPart(pulumi.ComponentResource):
    """One row of the table on an IaaS cloud: the host steps that make it, by host."""

    def __init__(self, row: Row, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPES[row], name, None, opts)
        self.row = row
        self.name = name
        self.steps: dict[str, HostStep] = {}  # "<host>/<step>" -> resource
        self.native = self.steps

    def add(self, step: Step, props: Mapping[str, Any], depends_on: Sequence[pulumi.Resource]) -> HostStep:
        resource = HostStep(
            f"{self.name}-{step.host}-{step.name}",
            dict(props),
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.steps[step.id] = resource
        return resource

    def finish(self, outputs: Mapping[str, Any]) -> None:
        self.register_outputs(dict(outputs))


def _config_secret(ref: SecretRef) -> pulumi.Output[str]:
    """A `config:` reference's value as a secret input ("" when unset: the provider then says which key)."""
    assert ref.config is not None
    namespace, _, key = ref.config.partition(":")
    value = pulumi.Config(namespace).get_secret(key)
    return pulumi.Output.secret(value if value is not None else "")


def connection(environment: Environment, host: SshHost) -> dict[str, Any]:
    inventory = environment.inventory
    assert inventory is not None
    key = host.key or inventory.ssh_key
    assert key is not None
    spec: dict[str, Any] = {
        "name": host.name,
        "address": str(host.address),
        "port": host.port,
        "user": host.user,
        "key": key.model_dump(exclude_none=True),
        "knownHosts": inventory.known_hosts,
    }
    if host.bastion:
        bastion = inventory.bastion(host.bastion)
        bastion_key = bastion.key or inventory.ssh_key
        assert bastion_key is not None
        spec["bastion"] = {
            "name": bastion.name,
            "address": bastion.address,
            "port": bastion.port,
            "user": bastion.user,
            "key": bastion_key.model_dump(exclude_none=True),
        }
    return spec


def step_props(environment: Environment, host: SshHost, step: Step) -> dict[str, Any]:
    """The inputs of a step's resource: what it does (spec, scripts) and how to reach its host."""
    inventory = environment.inventory
    assert inventory is not None
    refs = [host.key or inventory.ssh_key, *step.secrets.values()]
    if host.bastion:
        refs.append(inventory.bastion(host.bastion).key or inventory.ssh_key)
    secret_config = {ref.config: _config_secret(ref) for ref in refs if ref is not None and ref.config}
    return {
        "host": step.host,
        "step": step.name,
        "kind": step.kind,
        "row": step.row,
        "spec": dict(step.inputs),
        "check": step.check,
        "apply": step.apply,
        "secretRefs": {name: ref.model_dump(exclude_none=True) for name, ref in step.secrets.items()},
        "secretConfig": secret_config,
        "connection": connection(environment, host),
    }
