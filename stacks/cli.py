"""`opcloud stack`: list, synth, diff, up, preview and destroy the platform stacks."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, synthesize offline, compare and deploy the platform stacks.", no_args_is_help=True)
