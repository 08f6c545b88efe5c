"""`opcloud stack`: list, synth, diff, up, preview and destroy the platform stacks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from opcloud.cli.check import check_command
from opcloud.config.environment import list_stacks, open_stack
from opcloud.console import console, err_console, print_json
from opcloud.errors import InputError
from opcloud.paths import require_writable_file
from opcloud.progress import Display, plural
from opcloud.stacks import automation, inspect
from opcloud.stacks.synth import Manifest, synth

app = typer.Typer(help="List, synthesize offline, compare and deploy the platform stacks.", no_args_is_help=True)

ENV_HELP = "A stack of this Pulumi project (see `opcloud stack list`) or a path to a Pulumi.<stack>.yaml file."
JSON_HELP = "Print machine-readable JSON on stdout instead of the tree."


def complete_stack(incomplete: str) -> list[str]:
    """Shell completion: the project's stacks starting with what was typed."""
    return [name for name in list_stacks() if name.startswith(incomplete)]


ENV = typer.Argument(..., help=ENV_HELP, metavar="ENV", autocompletion=complete_stack)
LONG_TEXT = 160  # characters; longer values are summarised in the terminal diff


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the stacks of this Pulumi project (Pulumi.yaml here or above, its stackConfigDir): cloud, region,
    jurisdiction."""
    rows = []
    for name in list_stacks():
        stack_file = open_stack(name)
        config = stack_file.config
        rows.append(
            {
                "stack": name,
                "program": stack_file.program,
                "cloud": config.get("opcloud:cloud", "azure" if "azure-native:location" in config else None),
                "region": config.get("opcloud:region", config.get("azure-native:location")),
                "jurisdiction": config.get("opcloud:jurisdiction"),
            }
        )
    if as_json:
        print_json({"stacks": rows})
        return
    table = Table("stack", "program", "cloud", "region", "jurisdiction", box=None, header_style="bold")
    for row in rows:
        table.add_row(*(escape(str(row[column] or "-")) for column in ("stack", "program", "cloud", "region",
                                                                        "jurisdiction")))
    console.print(table)


@app.command("synth")
def synth_command(
    env: str = ENV,
    out: Path | None = typer.Option(None, "--out", help="Write the manifest (JSON) to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON on stdout."),
) -> None:
    """Run the stack program offline under Pulumi's mocks and show what it would create.

    No cloud account, no Pulumi CLI: the manifest lists every resource (type, name, parent, inputs),
    secrets shown as "\\[secret]".
    """
    if out is not None:
        require_writable_file(out, "manifest")  # before the synth, which takes seconds
    manifest = _synth_with_spinner(env)
    if out is not None:
        _write_manifest(manifest, out)
    if as_json:
        print_json(manifest.to_json())
        return
    summary = inspect.summarize(manifest)
    console.print(inspect.tree(manifest))
    console.print(
        f"\n[bold]{plural(summary.resources, 'resource')}[/] in stack [bold]{manifest.stack}[/] "
        f"({', '.join(f'{p}: {n}' for p, n in summary.by_provider.items())})"
    )
    for part, count in summary.parts.items():
        console.print(f"  [green]✓[/] {part:<28} {plural(count, 'resource')}")
    for part in summary.missing_parts:
        console.print(f"  [yellow]-[/] {part:<28} not declared")
    if out is not None:
        err_console.print(f"manifest written to {out}")


def _synth_with_spinner(env: str) -> Manifest:
    with Display().phase(f"synthesizing {escape(env)} offline (Pulumi mocks)..."):
        return synth(env)


def _write_manifest(manifest: Manifest, out: Path) -> None:
    """Write atomically: a failed run never leaves half a manifest behind."""
    temporary = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(out)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InputError(f"{out}: cannot write the manifest ({error.strerror})") from None


@app.command("diff")
def diff_command(
    env_a: str = ENV,
    env_b: str = ENV,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Compare two stacks as `pulumi preview --diff` would: config first, then each part's resources and every
    property that differs (A -> B). Resources are matched by type and by name without each stack's own prefix."""
    stack_a, stack_b = open_stack(env_a), open_stack(env_b)
    manifest_a, manifest_b = _synth_with_spinner(env_a), _synth_with_spinner(env_b)
    difference = inspect.diff(manifest_a, manifest_b, stack_a.config, stack_b.config)
    if as_json:
        print_json(difference.to_json())
        return
    console.print(f"[bold]A[/] = {escape(manifest_a.stack)}   [bold]B[/] = {escape(manifest_b.stack)}")
    mark = "[green]=[/]" if not difference.config else "[yellow]~[/]"
    console.print(f"{mark} [bold]config[/]")
    _print_changes(difference.config, indent=4)
    presence = {(True, True): "", (True, False): " (only in A)", (False, True): " (only in B)", (False, False): ""}
    for part in difference.parts:
        mark = "[green]=[/]" if part.same else "[yellow]~[/]"
        console.print(f"{mark} [bold]{escape(part.part)}[/]{presence[(part.in_a, part.in_b)]}")
        for resource in part.resources:
            label = f"{escape(resource.type)} {escape(resource.name)}"
            if resource.status == "onlyA":
                console.print(f"    [red]-[/] {label} [dim](only in A)[/]")
            elif resource.status == "onlyB":
                console.print(f"    [green]+[/] {label} [dim](only in B)[/]")
            else:
                console.print(f"    [yellow]~[/] {label}")
                _print_changes(resource.changes, indent=8)


def _print_changes(changes: list[inspect.Change], indent: int) -> None:
    for change in changes:
        a, b = (_shown(value) for value in (change.a, change.b))
        console.print(f"{' ' * indent}{escape(change.path)}: {a} -> {b}", soft_wrap=True)


def _shown(value: object) -> str:
    """A value as JSON; a long or multi-line text (a rendered script) as its size, shown whole by --json."""
    if value is inspect.ABSENT:
        return "(absent)"
    if isinstance(value, str) and ("\n" in value or len(value) > LONG_TEXT):
        return f"[dim](text, {len(value.splitlines())} lines, {len(value)} characters)[/]"
    return escape(json.dumps(value, ensure_ascii=False))


def _deploy(env: str, operation: automation.Operation, as_json: bool) -> None:
    result = automation.run(env, operation, on_output=lambda line: err_console.print(line, end="", markup=False))
    if as_json:
        print_json(result)
    else:
        console.print(f"[green]{operation} of {result['stack']} finished[/]")


@app.command("up")
def up_command(env: str = ENV, as_json: bool = typer.Option(False, "--json")) -> None:
    """Deploy ENV with the Pulumi CLI (Automation API): needs the CLI and cloud credentials."""
    _deploy(env, "up", as_json)


@app.command("preview")
def preview_command(
    env: str = ENV, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Preview the changes `up` would make (Pulumi CLI and cloud credentials needed)."""
    _deploy(env, "preview", as_json)


@app.command("destroy")
def destroy_command(
    env: str = ENV,
    as_json: bool = typer.Option(False, "--json"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Destroy every resource of ENV (Pulumi CLI and cloud credentials needed)."""
    automation.require_pulumi_cli()  # say what is missing before asking anything
    if not yes and not typer.confirm(f"Destroy every resource of {env}?"):
        raise typer.Exit(1)
    _deploy(env, "destroy", as_json)


# `opcloud stack check` lives with the policy pack (policies/cli.py).
app.command("check")(check_command)
