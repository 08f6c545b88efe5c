"""`opcloud migrate`: copy and verify buckets and databases between providers."""

from __future__ import annotations

import typer

app = typer.Typer(help="Copy and verify buckets and databases between clouds, with nothing lost.", no_args_is_help=True)
