"""Run an environment's host steps over SSH: check (report drift, change nothing) or apply (converge)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from components.iaas.plan import HostPlan, plan
from components.iaas.script import Mode, Outcome, Step, parse_outcome, secret_prelude
from components.iaas.secrets import ConfigLookup, resolve
from components.iaas.ssh import Endpoint, Masker, SshExecutor
from opcloud.errors import ConnectionFailed, OpcloudError
from stacks.environment import Environment, Inventory, SecretRef, SshHost

STEP_TIMEOUT = 900.0  # an apt-get install or a first mkfs on a large volume can take minutes


@dataclass(frozen=True)
class StepResult:
    host: str
    step: str
    kind: str
    status: str  # ok | drift | changed | failed | skipped
    detail: str
    drift: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "drift": list(self.drift)}


@dataclass(frozen=True)
class RunOptions:
    known_hosts: Path | None = None  # overrides inventory.knownHosts
    insecure_accept_host_keys: bool = False
    hosts: tuple[str, ...] = ()  # only these hosts (names); empty: all
    kinds: tuple[str, ...] = ()  # only these step kinds; empty: all
    connect_timeout: float = 15.0
    step_timeout: float = STEP_TIMEOUT
    config: ConfigLookup | None = None  # Pulumi secret config lookup


def _key(inventory: Inventory, own: SecretRef | None, options: RunOptions) -> str:
    ref = own or inventory.ssh_key
    assert ref is not None  # the inventory validator guarantees a key
    return resolve(ref, options.config)


def executor_for(environment: Environment, host: SshHost, options: RunOptions) -> SshExecutor:
    inventory = environment.inventory
    assert inventory is not None
    target = Endpoint(str(host.address), host.port, host.user, _key(inventory, host.key, options), host.name)
    bastion = None
    if host.bastion:
        b = inventory.bastion(host.bastion)
        bastion = Endpoint(b.address, b.port, b.user, _key(inventory, b.key, options), b.name)
    known_hosts = options.known_hosts or Path(inventory.known_hosts).expanduser()
    return SshExecutor(
        target,
        known_hosts=known_hosts,
        bastion=bastion,
        insecure_accept_unknown=options.insecure_accept_host_keys,
        connect_timeout=options.connect_timeout,
    )


def run_step(executor: SshExecutor, step: Step, mode: Mode, options: RunOptions) -> Outcome:
    """Send the secrets (stdin, ahead of the script) and the script; parse the status line."""
    values = {name: resolve(ref, options.config) for name, ref in step.secrets.items()} if mode == "apply" else {}
    masker = Masker(values.values())
    result = executor.run(
        "/bin/bash -s",
        stdin=secret_prelude(values) + step.script(mode),
        sudo=True,
        timeout=options.step_timeout,
        masker=masker,
    )
    return parse_outcome(result.exit_code, result.output)


def selected(environment: Environment, options: RunOptions) -> list[HostPlan]:
    plans = plan(environment)
    known = {p.host.name for p in plans}
    for name in options.hosts:
        if name not in known:
            raise ConnectionFailed(f"unknown host {name!r}: the inventory has {', '.join(sorted(known))}")
    chosen = [p for p in plans if not options.hosts or p.host.name in options.hosts]
    if options.kinds:
        chosen = [HostPlan(p.host, [s for s in p.steps if s.kind in options.kinds]) for p in chosen]
    return chosen


def run(environment: Environment, mode: Mode, options: RunOptions) -> Iterator[StepResult]:
    """Every selected step of every selected host, in order. In apply mode a failed step skips the rest of its
    host (later steps build on it); in check mode every step is checked."""
    for host_plan in selected(environment, options):
        host = host_plan.host
        try:
            executor = executor_for(environment, host, options).connect()
        except OpcloudError as error:
            for step in host_plan.steps:
                yield StepResult(host.name, step.name, step.kind, "failed", str(error))
            continue
        with executor:
            failed = False
            for step in host_plan.steps:
                if failed:
                    yield StepResult(host.name, step.name, step.kind, "skipped", "an earlier step failed")
                    continue
                try:
                    outcome = run_step(executor, step, mode, options)
                except OpcloudError as error:
                    outcome = Outcome("failed", str(error), "")
                failed = mode == "apply" and outcome.status == "failed"
                yield StepResult(
                    host.name, step.name, step.kind, outcome.status, outcome.detail, tuple(outcome.drift_reasons)
                )
