"""`opcloud migrate db`: copy, follow, cut over and verify PostgreSQL databases between providers."""

from __future__ import annotations

import typer

app = typer.Typer(help="Copy PostgreSQL between providers (offline or online), cut over, verify.", no_args_is_help=True)
