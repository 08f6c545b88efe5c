"""`opcloud migrate`: copy and verify buckets and databases between providers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from opcloud.cli.lazy import lazy_group
from opcloud.console import print_json
from opcloud.errors import ConnectionFailed
from opcloud.interrupts import resumable
from opcloud.migrate.stores.backends import BACKENDS
from opcloud.paths import state_home

if TYPE_CHECKING:
    from opcloud.migrate import runner

app = typer.Typer(
    cls=lazy_group({"db": "opcloud.cli.migrate_db"}),
    help="Copy and verify buckets and databases between clouds, with nothing lost.",
    no_args_is_help=True,
)

_URLS = (
    "Store URLs: "
    + ",\n".join(backend.usage for backend in BACKENDS.values())
    + ".\nAdd ?country=CC where the location cannot be told from the endpoint. URLs never hold secrets."
)

StateDir = typer.Option(
    None,
    "--state-dir",
    show_default=False,
    help="Where the state of each pair lives [default: $XDG_STATE_HOME/opcloud/migrate, i.e. "
    "~/.local/state/opcloud/migrate, whatever the folder].",
)
Json = typer.Option(False, "--json", help="Print the report as JSON on stdout (progress stays on stderr).")
Transfers = typer.Option(8, "--transfers", "-t", min=1, max=256, help="Objects copied at once.")
NoProgress = typer.Option(False, "--no-progress", help="No progress bar on stderr.")


def _finish(data: dict, as_json: bool, render: str) -> None:
    """Print the report (JSON, or the `render` function of buckets.render) and exit 1 unless it is ok."""
    if as_json:
        print_json(data)
    else:
        from opcloud.migrate.buckets import render as renderers  # rich tables: only for human output

        getattr(renderers, render)(data)
    if not data["ok"]:
        raise typer.Exit(1)


_VERIFICATION = """Every copied object is verified to be the same object: key, bytes (our SHA-256, computed while it
streams, kept in the state and the target's metadata), content type, system headers and user metadata. Where the
target checks an MD5 we send with every block (Azure), a successful write proves the bytes and a HEAD the rest; a
single PUT to Azure is proven by one listing per batch: the MD5 the service computed of what it stored is ours, and
the listed properties match; elsewhere (and any object not proven so) each object is read back and compared. Keys
the target cannot hold faithfully are encoded reversibly or refused by name (exit 1) before anything is written.
--read-back reads back everything; `opcloud migrate verify` rereads a whole pair at any time."""


@app.command(help=f"Copy every object of SRC to DST, resumably, and verify each one.\n\n{_VERIFICATION}\n\n{_URLS}")
def copy(
    src: str = typer.Argument(..., help="Source store URL."),
    dst: str = typer.Argument(..., help="Target store URL."),
    state_dir: Path | None = StateDir,
    transfers: int = Transfers,
    part_size: str = typer.Option("8M", help="Objects larger than this go in resumable parts of this size."),
    memory: str = typer.Option("128M", help="Bound on part buffers held at once across all transfers."),
    bwlimit: str | None = typer.Option(None, help="Bandwidth limit for all transfers, bytes/s (e.g. 20M)."),
    include: list[str] = typer.Option([], "--include", help="Copy only keys matching this glob (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Leave out keys matching this glob (repeatable)."),
    delete: bool = typer.Option(False, "--delete", help="Delete target objects that are not in the source."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list and compare: write nothing anywhere."),
    jurisdiction: str | None = typer.Option(None, help="Refuse a target outside this country code (or EU)."),
    server_side: bool = typer.Option(True, help="Copy server-side when both stores are on the same service."),
    read_back: bool = typer.Option(False, "--read-back", help="Read every copied object back, even when checked."),
    check_metadata: bool = typer.Option(
        False,
        "--check-metadata",
        help="HEAD every object the listings show unchanged, on both sides, and recopy it if its content type, "
        "headers or metadata differ: for sources whose listing does not show such changes (file and SFTP trees).",
    ),
    as_json: bool = Json,
    no_progress: bool = NoProgress,
) -> None:
    from opcloud.migrate.buckets import engine
    from opcloud.migrate.sizes import parse_size

    options = engine.CopyOptions(
        state_dir=state_dir or state_home(),
        transfers=transfers,
        part_size=parse_size(part_size),
        memory=parse_size(memory),
        bwlimit=parse_size(bwlimit) if bwlimit else None,
        include=include,
        exclude=exclude,
        delete=delete,
        dry_run=dry_run,
        server_side=server_side,
        read_back=read_back,
        check_metadata=check_metadata,
        progress=not no_progress,
        jurisdiction=jurisdiction,  # the engine refuses a target outside it before opening any store
    )
    kept = (
        "every object copied and verified so far is kept in the state; run the same command again to resume"
        if not dry_run
        else "nothing was written"
    )
    with resumable(kept):
        report = engine.copy(src, dst, options)
    _finish(report.to_dict(), as_json, "copy_report")


@app.command(
    help="Verify by reading the target back: `verify SRC DST` compares two stores object by object (SHA-256, "
    "never ETags); `verify PLAN.yaml` verifies every pair of a plan.\n\n" + _URLS
)
def verify(
    targets: list[str] = typer.Argument(..., help="SRC DST, or PLAN.yaml."),
    state_dir: Path | None = StateDir,
    transfers: int = Transfers,
    as_json: bool = Json,
    no_progress: bool = NoProgress,
) -> None:
    from opcloud.errors import InputError
    from opcloud.migrate.buckets import engine

    if len(targets) == 1:
        _plan_action(Path(targets[0]), "verify", as_json, no_progress)
        return
    if len(targets) != 2:
        raise InputError("verify takes SRC DST, or one PLAN.yaml")
    with resumable("verification changes nothing; run it again to start over"):
        report = engine.verify(targets[0], targets[1], state_dir or state_home(), transfers, not no_progress)
    _finish(report.to_dict(), as_json, "verify_report")


def _plan_action(
    path: Path, action: str, as_json: bool, no_progress: bool, cluster: runner.Cluster | None = None
) -> None:
    from opcloud.migrate import runner
    from opcloud.migrate.plan import load_plan

    plan = load_plan(path)
    kept = {
        "run": f"every object copied and verified so far is kept in the state; `opcloud migrate run {path}` resumes",
        "verify": "verification changes nothing; run it again to start over",
    }.get(action, "nothing was written")
    try:
        with resumable(kept):
            report = runner.execute(plan, action, progress=not no_progress, cluster=cluster)
    except ConnectionFailed as error:
        if action != "plan":
            raise
        raise type(error)(f"{error} (`opcloud migrate plan {path} --offline` checks the plan without reaching the "
                          "stores)") from None  # fmt: skip
    _finish(report.to_dict(), as_json, "plan_report")


@app.command(
    help="Show what `run` would do for every pair of PLAN.yaml (checks residency; writes nothing). With --offline: "
    "no credentials, no network: the plan's URLs, where every source and target lies, the jurisdiction, and "
    "pairs that would write into the same place."
)
def plan(
    path: Path = typer.Argument(..., help="The plan file."),
    offline: bool = typer.Option(False, "--offline", help="Check the plan itself only: contact no store."),
    as_json: bool = Json,
    no_progress: bool = NoProgress,
) -> None:
    if offline:
        from opcloud.migrate.offline import check_offline
        from opcloud.migrate.plan import load_plan

        _finish(check_offline(load_plan(path)).to_dict(), as_json, "plan_report")
        return
    _plan_action(path, "plan", as_json, no_progress)


@app.command(
    help="Run every pair of PLAN.yaml: residency checked first, then copies, each verified. With --workers N or "
    "--scheduler ADDRESS, bucket pairs are copied in shards of the plan's shard_size over a Dask cluster, with the "
    "plan's state_database (PostgreSQL) as the state of record."
)
def run(
    path: Path = typer.Argument(..., help="The plan file."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Shard over a local cluster of N processes."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Shard over a running Dask cluster (tcp://HOST:8786)."
    ),
    as_json: bool = Json,
    no_progress: bool = NoProgress,
) -> None:
    from opcloud.errors import InputError

    if workers is not None and scheduler is not None:
        raise InputError("give --workers or --scheduler, not both")
    cluster = None
    if workers is not None or scheduler is not None:
        from opcloud.migrate.runner import Cluster

        cluster = Cluster(workers, scheduler)
    _plan_action(path, "run", as_json, no_progress, cluster)


@app.command(
    help="Show the recorded progress of a copy (`status SRC DST`, with the --state-dir it used) or of every pair of "
    "a plan (`status PLAN.yaml`): from the state, no store is contacted, from any folder."
)
def status(
    targets: list[str] = typer.Argument(..., help="SRC DST, or PLAN.yaml."),
    state_dir: Path | None = StateDir,
    as_json: bool = Json,
) -> None:
    from opcloud.errors import InputError
    from opcloud.migrate import runner
    from opcloud.migrate.buckets import render

    if len(targets) == 1:
        _plan_action(Path(targets[0]), "status", as_json, True)
        return
    if len(targets) != 2:
        raise InputError("status takes SRC DST, or one PLAN.yaml")
    data = runner.pair_status(state_dir or state_home(), targets[0], targets[1])
    if as_json:
        print_json(data)
    else:
        render.status_report(data)
    if not data["ok"]:
        raise typer.Exit(1)
