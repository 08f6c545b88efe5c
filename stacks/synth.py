"""Offline synth: run a stack program under Pulumi's mocks and record what it declares.

The program is the very one `pulumi up` runs; only the resource monitor is replaced by a recording
mock, so no cloud account, no Pulumi CLI and no network are needed. The result is a `Manifest`:
every resource's URN, type, name, parent and inputs, secrets masked, and the stack outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from opcloud.stacks.mocks import call_result, mocks_of_type
from opcloud.stacks.pulumi_internals import run_program, wait
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

from opcloud.config.environment import (
    PROJECT,
    SECRET_PLACEHOLDER,
    StackFile,
    check_plain_secrets,
    from_config,
    open_stack,
)

UNKNOWN_PLACEHOLDER = "[unknown]"


@dataclass(frozen=True)
class ManifestResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent, "inputs": self.inputs}


@dataclass
class Manifest:
    stack: str
    project: str
    resources: list[ManifestResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "project": self.project,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }

    def of_type(self, type_: str) -> list[ManifestResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> ManifestResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise LookupError(f"expected one {type_}, found {len(found)}")
        return found[0]

    def named(self, name: str) -> ManifestResource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise LookupError(f"no resource named {name!r}")

    def children(self, parent_urn: str | None) -> list[ManifestResource]:
        return [r for r in self.resources if r.parent == parent_urn]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        return cls(
            stack=data["stack"],
            project=data["project"],
            resources=[ManifestResource(**r) for r in data["resources"]],
            outputs=dict(data.get("outputs", {})),
        )


def _mask(value: Any) -> Any:
    """Replace secrets by a placeholder, recursively; turn values into plain JSON."""
    if rpc.is_rpc_secret(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN_PLACEHOLDER
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _SynthMocks(pulumi.runtime.Mocks):
    """Give every resource an id and the computed outputs its dependants read (its cloud's mocks say which)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        state.update(mocks_of_type(args.typ).computed(args.typ, args.name, state))
        state.setdefault("name", args.name)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """Canned answers for the few data sources the programs read; no check failures (an empty list: the
        mock server iterates it, None would fail)."""
        return call_result(args.token), []


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent and inputs in declaration order."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[ManifestResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.records.append(
                ManifestResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    inputs=_mask(inputs),
                )
            )
        return response


def _config_strings(config: Mapping[str, Any]) -> dict[str, str]:
    """Pulumi hands config to programs as strings, structured values as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def _resolve_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, value in outputs.items():
        output = pulumi.Output.from_input(value)
        if wait(output.is_secret()):
            resolved[name] = SECRET_PLACEHOLDER
        else:
            resolved[name] = _mask(wait(output.future(with_unknowns=True)))
    return resolved


def synthesize_program(
    program: Callable[[], None],
    *,
    stack: str,
    config: Mapping[str, Any],
    secret_keys: Iterable[str] = (),
    project: str = PROJECT,
) -> Manifest:
    """Run `program` under recording mocks with `config` and return what it declared."""
    mocks = _SynthMocks()
    monitor = _RecordingMonitor(mocks)
    settings.reset_options(project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config(_config_strings(config), list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    run_program(program)
    root = settings.get_root_resource()
    outputs = _resolve_outputs(getattr(root, "outputs", {}) or {})
    return Manifest(stack=stack, project=project, resources=list(monitor.records), outputs=outputs)


def validate(stack_file: StackFile) -> None:
    """Validate the environment before any resource is declared (raises InputError)."""
    if stack_file.program == "platform":
        check_plain_secrets(stack_file, from_config(stack_file.config, str(stack_file.path)))
    elif stack_file.program == "test-stand":
        from opcloud.stand.program import settings_from_config

        check_plain_secrets(stack_file, settings_from_config(stack_file.config, str(stack_file.path)))


def synth(env: str) -> Manifest:
    """Synthesize the stack ENV (a name in environments/ or a path to its file) offline."""
    from opcloud.stacks.program import run

    stack_file = open_stack(env)
    validate(stack_file)
    return synthesize_program(run, stack=stack_file.stack, config=stack_file.config, secret_keys=stack_file.secret_keys)
