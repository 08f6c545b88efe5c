"""`opcloud migrate`: copy and verify buckets and databases between providers."""

from __future__ import annotations

import typer

app = typer.Typer(help="Copy and verify buckets and databases between clouds, with nothing lost.", no_args_is_help=True)


def _register_groups() -> None:
    from migrate.databases.cli import app as db_app

    app.add_typer(db_app, name="db")


_register_groups()
