"""A Pulumi dynamic provider running one host step over SSH with the same executor as `opcloud hosts`.

create/update apply the step; diff compares the inputs and, when they are equal, runs the step's check over
SSH so `pulumi up` converges a host that drifted by hand; delete leaves the host as it is (undoing a
firewall or a filesystem is not something to do implicitly). The provider object is plain and importable
(Pulumi pickles it with dill); secrets reach it only as secret inputs or as env/file references resolved
on the operator's machine, never in the state in clear.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

HOST_STEP_TYPE = "pulumi-python:dynamic:Resource"
# Inputs whose change means the host must be converged again.
_STEP_INPUTS = ("host", "step", "kind", "spec", "check", "apply", "secretRefs", "connection")


def _run(props: dict[str, Any], mode: str) -> tuple[str, str]:
    # Imported here: the provider is unpickled in the engine's process, which imports what it needs.
    from opcloud.hosts.runner import RunOptions, run_step
    from opcloud.hosts.script import Step
    from opcloud.hosts.ssh import Endpoint, SshExecutor

    from opcloud.config.environment import SecretRef

    connection = props["connection"]
    config = {k: v for k, v in (props.get("secretConfig") or {}).items() if v}
    options = RunOptions(config=config)

    def endpoint(spec: dict[str, Any]) -> Endpoint:
        from opcloud.hosts.secrets import resolve

        key = resolve(SecretRef.model_validate(spec["key"]), config)
        return Endpoint(spec["address"], int(spec["port"]), spec["user"], key, spec.get("name", ""))

    bastion = connection.get("bastion")
    executor = SshExecutor(
        endpoint(connection),
        known_hosts=Path(connection["knownHosts"]).expanduser(),
        bastion=endpoint(bastion) if bastion else None,
    )
    step = Step(
        host=props["host"],
        name=props["step"],
        kind=props["kind"],
        row=props["row"],
        check=props["check"],
        apply=props["apply"],
        secrets={k: SecretRef.model_validate(v) for k, v in (props.get("secretRefs") or {}).items()},
    )
    with executor:
        outcome = run_step(executor, step, mode, options)  # type: ignore[arg-type]
    if outcome.status == "failed":
        raise RuntimeError(f"{step.id}: {outcome.detail}")
    return outcome.status, ", ".join(outcome.drift_reasons)


class HostStepProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        status, _ = _run(props, "apply")
        return CreateResult(id_=f"{props['host']}/{props['step']}", outs={**props, "status": status})

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        status, _ = _run(news, "apply")
        return UpdateResult(outs={**news, "status": status})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _STEP_INPUTS if olds.get(k) != news.get(k)]
        if not changed:
            try:
                status, _ = _run(news, "check")
            except Exception:  # unreachable host: let the update surface the error
                status = "drift"
            if status == "drift":
                changed = ["status"]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id, outs=props)

    def delete(self, id: str, props: dict[str, Any]) -> None:
        pulumi.log.info(f"{id}: left in place on the host (opcloud does not undo host configuration)")


class HostStep(Resource):
    """One host step as a Pulumi resource; `status` is ok or changed after the last apply."""

    status: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(HostStepProvider(), name, {**props, "status": None}, opts)
