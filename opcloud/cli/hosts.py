"""`opcloud hosts check|apply|preflight ENV`: the IaaS hosts without Pulumi. Parse, delegate, print."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from opcloud.config.environment import Environment, from_config, open_stack
from opcloud.console import console, err_console, print_json
from opcloud.errors import CheckFailed, InputError
from opcloud.hosts.preflight import preflight as run_preflight
from opcloud.hosts.runner import CONNECT_TIMEOUT, RunOptions, StepResult, run
from opcloud.hosts.secrets import pulumi_config_lookup
from opcloud.interrupts import resumable

app = typer.Typer(help="Converge and check the hosts of an IaaS environment over SSH.", no_args_is_help=True)

_STYLE = {"ok": "green", "changed": "yellow", "drift": "yellow", "failed": "bold red", "skipped": "dim"}

KnownHosts = typer.Option(None, "--known-hosts", help="known_hosts file (default: inventory.knownHosts).")
Insecure = typer.Option(
    False, "--insecure-accept-host-keys", help="Accept unknown host keys blindly (first contact on a trusted net)."
)
Hosts = typer.Option(None, "--host", help="Only this host (repeatable).")
Kinds = typer.Option(None, "--step", help="Only steps of this kind, e.g. firewall (repeatable).")
Json = typer.Option(False, "--json", help="Print JSON on stdout.")
Timeout = typer.Option(
    CONNECT_TIMEOUT, "--timeout", min=0.5, help="Seconds a host (or an iSCSI/NFS probe) may take to answer."
)
Env = typer.Argument(..., help="A stack of this Pulumi project or a Pulumi.<stack>.yaml path.")


def _setup(
    env: str,
    known_hosts: Path | None,
    insecure: bool,
    hosts: list[str] | None,
    kinds: list[str] | None,
    timeout: float = CONNECT_TIMEOUT,
) -> tuple[Environment, RunOptions]:
    stack_file = open_stack(env)
    environment = from_config(stack_file.config, str(stack_file.path))
    if environment.cloud != "iaas" or environment.inventory is None:
        raise InputError(f"{stack_file.path}: opcloud:cloud is {environment.cloud!r}; hosts commands need 'iaas'")
    options = RunOptions(
        known_hosts=known_hosts,
        insecure_accept_host_keys=insecure,
        hosts=tuple(hosts or ()),
        kinds=tuple(kinds or ()),
        connect_timeout=timeout,
        config=pulumi_config_lookup(stack_file.stack),
    )
    return environment, options


_KEPT = {
    "check": "check changes nothing; run it again",
    "apply": "finished steps are kept and every step is idempotent; run apply again to converge the rest",
}


def _drive(environment: Environment, results: Iterable[StepResult], mode: str) -> list[StepResult]:
    """Print each step as it finishes (hosts run in parallel); return them in inventory order."""
    collected = []
    with resumable(_KEPT[mode]), err_console.status("connecting...") as status:
        for result in results:
            collected.append(result)
            style = _STYLE.get(result.status, "")
            err_console.print(f"[{style}]{result.status:>8}[/] {escape(result.host)}/{escape(result.step)}")
            status.update(f"{len(collected)} steps done")
    assert environment.inventory is not None
    order = {host.name: index for index, host in enumerate(environment.inventory.hosts)}
    return sorted(collected, key=lambda r: order.get(r.host, len(order)))  # stable: steps keep their order


def _report(results: list[StepResult], as_json: bool, mode: str) -> None:
    if as_json:
        print_json({"mode": mode, "steps": [r.to_json() for r in results]})
    else:
        table = Table("host", "step", "kind", "status", title=f"hosts {mode}")
        table.add_column("detail", overflow="fold")
        for r in results:
            detail = "; ".join(r.drift) if r.drift else r.detail
            status = f"[{_STYLE.get(r.status, '')}]{r.status}[/]"
            table.add_row(escape(r.host), escape(r.step), r.kind, status, escape(detail))
        console.print(table)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        first = failed[0]
        raise CheckFailed(f"{len(failed)} step(s) failed, first {first.host}/{first.step}: {first.detail}")


@app.command()
def check(
    env: str = Env,
    known_hosts: Path | None = KnownHosts,
    insecure: bool = Insecure,
    host: list[str] | None = Hosts,
    step: list[str] | None = Kinds,
    as_json: bool = Json,
    timeout: float = Timeout,
) -> None:
    """Report drift step by step; change nothing. Exit 1 if any step drifts or fails."""
    environment, options = _setup(env, known_hosts, insecure, host, step, timeout)
    results = _drive(environment, run(environment, "check", options), "check")
    drifting = [r for r in results if r.status == "drift"]
    _report(results, as_json, "check")
    if drifting:
        raise CheckFailed(f"{len(drifting)} step(s) drift, first {drifting[0].host}/{drifting[0].step}")


@app.command()
def apply(
    env: str = Env,
    known_hosts: Path | None = KnownHosts,
    insecure: bool = Insecure,
    host: list[str] | None = Hosts,
    step: list[str] | None = Kinds,
    as_json: bool = Json,
    timeout: float = Timeout,
) -> None:
    """Converge every host: each step reports ok (already there), changed or failed."""
    environment, options = _setup(env, known_hosts, insecure, host, step, timeout)
    _report(_drive(environment, run(environment, "apply", options), "apply"), as_json, "apply")


@app.command()
def preflight(
    env: str = Env,
    known_hosts: Path | None = KnownHosts,
    insecure: bool = Insecure,
    host: list[str] | None = Hosts,
    as_json: bool = Json,
    timeout: float = Timeout,
) -> None:
    """From this machine, all at once: hosts answer on SSH (host key verified), iSCSI portals offer the target
    and LUN, NFS exports are served. --host narrows it to those hosts and the volumes and shares they use."""
    environment, options = _setup(env, known_hosts, insecure, host, None, timeout)
    probes = []
    with err_console.status("probing...") as status:
        for probe in run_preflight(environment, options):
            probes.append(probe)
            mark = "[green]ok[/]" if probe.ok else "[bold red]failed[/]"
            err_console.print(f"{mark:>8} {probe.kind} {escape(probe.name)}")
            status.update(f"{len(probes)} probes answered")
    kinds = {"ssh": 0, "iscsi": 1, "nfs": 2}
    probes.sort(key=lambda p: (kinds.get(p.kind, 3), p.name))
    if as_json:
        print_json({"probes": [p.to_json() for p in probes]})
    else:
        table = Table("kind", "name", "result", title="hosts preflight")
        table.add_column("detail", overflow="fold")
        for p in probes:
            table.add_row(p.kind, escape(p.name), "[green]ok[/]" if p.ok else "[bold red]failed[/]", escape(p.detail))
        console.print(table)
    failed = [p for p in probes if not p.ok]
    if failed:
        raise CheckFailed(f"{len(failed)} probe(s) failed, first {failed[0].kind} {failed[0].name}: {failed[0].detail}")
