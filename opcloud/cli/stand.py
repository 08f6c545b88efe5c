"""`opcloud stand`: create, destroy, list and reap Jenkins QA test stands (thin: parse, delegate, print)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import typer

from opcloud.console import console, err_console, print_json
from opcloud.errors import CheckFailed
from opcloud.stand import automation
from opcloud.stand.lifecycle import (
    current_user,
    default_name,
    expired,
    format_time,
    is_expired,
    parse_ttl,
    validate_name,
)

app = typer.Typer(
    help="Create, destroy, list and reap the Jenkins QA test stands on Azure (one Pulumi stack each).",
    no_args_is_help=True,
)

JSON_HELP = "Print machine-readable JSON on stdout (progress goes to stderr)."


def _progress(line: str) -> None:
    err_console.print(line.rstrip("\n"), markup=False, highlight=False)


@app.command("up")
def up_command(
    name: str | None = typer.Option(None, "--name", help="Stand name (DNS-safe, max 20); default <user>-<random>."),
    ttl: str = typer.Option("8h", "--ttl", help="Time to live: 90m, 8h, 2d (30m to 7d). `reap` destroys it after."),
    owner: str | None = typer.Option(None, "--owner", help="Owner tag; default the CI actor or login name."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a stand (or update an existing one and extend its expiry) and print its URL."""
    lifetime = parse_ttl(ttl)
    user = current_user(os.environ)
    stand = validate_name(name) if name is not None else default_name(user)
    result = automation.up(stand, lifetime, owner or user, _progress)
    if as_json:
        print_json(result)
        return
    console.print(f"stand [bold]{stand}[/] is up: {result.get('url')} (expires {result.get('expiry')})")


@app.command("down")
def down_command(
    name: str = typer.Argument(..., help="The stand to destroy."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Destroy a stand and remove its stack."""
    result = automation.down(validate_name(name), _progress)
    if as_json:
        print_json(result)
        return
    console.print(f"stand [bold]{name}[/] destroyed")


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the stands with owner, expiry and URL."""
    now = datetime.now(UTC)
    stands = automation.list_stands()
    if as_json:
        print_json({"stands": [{**s.to_json(), "expired": is_expired(s, now)} for s in stands]})
        return
    if not stands:
        console.print("no stands")
    for stand in stands:
        when = format_time(stand.expiry) if stand.expiry else "unknown expiry"
        flag = " [red](expired)[/]" if is_expired(stand, now) else ""
        console.print(f"[bold]{stand.name:<20}[/] {stand.owner or '-':<20} {when}{flag}  {stand.url or '-'}")


@app.command("reap")
def reap_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be destroyed."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Destroy every stand past its expiry (stands whose expiry cannot be read are left and reported)."""
    now = datetime.now(UTC)
    stands = automation.list_stands()
    due = expired(stands, now)
    unknown = [s.name for s in stands if s.expiry is None]
    results = [] if dry_run else automation.reap(due, lambda stand: automation.down(stand, _progress))
    failures = [(s.name, error) for s, error in results if error]
    if as_json:
        print_json(
            {
                "now": format_time(now),
                "dryRun": dry_run,
                "expired": [s.to_json() for s in due],
                "destroyed": [s.name for s, error in results if not error],
                "failed": [{"name": n, "error": e} for n, e in failures],
                "unknownExpiry": unknown,
            }
        )
    else:
        failed = dict(failures)
        for stand in due:
            verb = "would destroy" if dry_run else ("failed to destroy" if stand.name in failed else "destroyed")
            console.print(f"{verb} {stand.name} (expired {format_time(stand.expiry) if stand.expiry else '?'})")
        for name in unknown:
            console.print(f"[yellow]left {name}: expiry unknown[/]")
        if not due:
            console.print("no expired stands")
    if failures:
        raise CheckFailed(f"reap: {len(failures)} stand(s) not destroyed: {', '.join(n for n, _ in failures)}")
