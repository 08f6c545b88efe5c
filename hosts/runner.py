"""Run an environment's host steps over SSH: check (report drift, change nothing) or apply (converge)."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from opcloud.hosts.plan import HostPlan, plan
from opcloud.hosts.script import Mode, Outcome, Step, parse_outcome, secret_prelude
from opcloud.hosts.secrets import ConfigLookup, resolve
from opcloud.hosts.ssh import Endpoint, Masker, SshExecutor

from opcloud.config.environment import Environment, Inventory, SecretRef, SshHost
from opcloud.errors import ConnectionFailed, OpcloudError

STEP_TIMEOUT = 900.0  # an apt-get install or a first mkfs on a large volume can take minutes
CONNECT_TIMEOUT = 5.0  # `opcloud hosts`: a host that has not answered SSH by then is reported, not waited for
MAX_PARALLEL_HOSTS = 16
ROLLED_KIND = "release"  # steps that roll one host at a time behind the health gate

T = TypeVar("T")
Item = TypeVar("Item")


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
    connect_timeout: float = 15.0  # under `pulumi up` a slow answer is waited for rather than failed
    step_timeout: float = STEP_TIMEOUT
    config: ConfigLookup | Mapping[str, str] | None = None  # Pulumi secret config lookup, or the values


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


def require_keys(environment: Environment, hosts: Iterable[SshHost], options: RunOptions) -> None:
    """Resolve the SSH key of every host (and its bastion) before connecting anywhere: a key that is not
    there is one input error (exit 2), not the same failure on every step of every host."""
    inventory = environment.inventory
    assert inventory is not None
    for host in hosts:
        _key(inventory, host.key, options)
        if host.bastion:
            _key(inventory, inventory.bastion(host.bastion).key, options)


def in_parallel(
    items: Iterable[Item], work: Callable[[Item], Iterable[T]], limit: int = MAX_PARALLEL_HOSTS
) -> Iterator[T]:
    """Run `work` on every item in threads and yield what each produces as soon as it does (live rows).
    A Ctrl-C stops waiting at once; work already on the wire ends with its own timeouts."""
    items = list(items)
    if not items:
        return
    results: queue.Queue[tuple[str, object]] = queue.Queue()

    def drain(item: Item) -> None:
        try:
            for produced in work(item):
                results.put(("item", produced))
        except BaseException as error:  # re-raised in the caller's thread
            results.put(("error", error))
        finally:
            results.put(("done", None))

    pool = ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="opcloud-host")
    try:
        for item in items:
            pool.submit(drain, item)
        running = len(items)
        while running:
            kind, value = results.get()
            if kind == "done":
                running -= 1
            elif kind == "error":
                assert isinstance(value, BaseException)
                raise value
            else:
                yield value  # type: ignore[misc]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run(environment: Environment, mode: Mode, options: RunOptions) -> Iterator[StepResult]:
    """Every selected step of every selected host: hosts in parallel, each host's steps in order, results as
    they come. In apply mode a failed step skips the rest of its host (later steps build on it), and the
    release steps roll afterwards, one host at a time (see `_roll`); in check mode every step is checked."""
    plans = selected(environment, options)
    require_keys(environment, (p.host for p in plans), options)
    if mode == "check":
        yield from in_parallel(plans, lambda host_plan: _run_host(environment, host_plan, mode, options))
        return
    failed_hosts: set[str] = set()

    def base_steps(host_plan: HostPlan) -> Iterator[StepResult]:
        steps = [s for s in host_plan.steps if s.kind != ROLLED_KIND]
        for result in _run_host(environment, HostPlan(host_plan.host, steps), mode, options):
            if result.status == "failed":
                failed_hosts.add(result.host)
            yield result

    yield from in_parallel(plans, base_steps)
    yield from _roll(environment, plans, failed_hosts, options)


def _roll(
    environment: Environment, plans: list[HostPlan], failed_hosts: set[str], options: RunOptions
) -> Iterator[StepResult]:
    """Release steps one host at a time, in inventory order. Each step waits for its service's health path
    (and switches the host back to its previous version when it does not answer); the first host that fails,
    or that could not be prepared, stops the roll: the hosts after it keep the version they run."""
    stopped: str | None = None
    for host_plan in plans:
        releases = [s for s in host_plan.steps if s.kind == ROLLED_KIND]
        if not releases:
            continue
        name = host_plan.host.name
        if stopped is None and name in failed_hosts:
            stopped = f"the roll stopped: an earlier step failed on {name}"
        if stopped is not None:
            for step in releases:
                yield StepResult(name, step.name, step.kind, "skipped", stopped)
            continue
        for result in _run_host(environment, HostPlan(host_plan.host, releases), "apply", options):
            if result.status == "failed" and stopped is None:
                stopped = f"the roll stopped at {name}/{result.step}"
            yield result


def _run_host(environment: Environment, host_plan: HostPlan, mode: Mode, options: RunOptions) -> Iterator[StepResult]:
    host = host_plan.host
    try:
        executor = executor_for(environment, host, options).connect()
    except OpcloudError as error:
        for step in host_plan.steps:
            yield StepResult(host.name, step.name, step.kind, "failed", str(error))
        return
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
