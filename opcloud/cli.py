"""The `opcloud` command line: assembles the command groups, formats errors in one place."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from opcloud import __version__
from opcloud.console import print_error
from opcloud.errors import OpcloudError


class OpcloudGroup(TyperGroup):
    """Root group: every `OpcloudError` raised by any command becomes one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OpcloudError as error:
            print_error(str(error))
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=OpcloudGroup,
    name="opcloud",
    help="Deploy procurement platforms per country on AWS, Azure or IaaS clouds, check them, move their data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"opcloud {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """opcloud: infrastructure as code and data migration for public-procurement platforms."""


def _register_groups() -> None:
    # Imported here so that `opcloud --help` stays fast and each group owns its own module.
    from components.iaas.cli import app as hosts_app
    from migrate.cli import app as migrate_app
    from stacks.cli import app as stack_app
    from stacks.stand_cli import app as stand_app

    app.add_typer(stack_app, name="stack")
    app.add_typer(migrate_app, name="migrate")
    app.add_typer(stand_app, name="stand")
    app.add_typer(hosts_app, name="hosts")


_register_groups()


def main() -> None:
    app()
