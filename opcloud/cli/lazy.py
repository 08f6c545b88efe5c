"""Command groups that import their module only when used (or when help lists them).

Start-up cost is paid by every command: `opcloud migrate copy` must not load Pulumi or psycopg.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperGroup

COMPLETION_OPTIONS = ("install_completion", "show_completion")


def lazy_group(groups: Mapping[str, str]) -> type[TyperGroup]:
    """A typer group class whose sub-groups `name -> module` are imported on first use (module.app)."""

    class LazyGroup(TyperGroup):
        def list_commands(self, ctx: Any) -> list[str]:
            return [*super().list_commands(ctx), *groups]

        def get_command(self, ctx: Any, name: str) -> Any:
            module = groups.get(name)
            if module is None:
                return super().get_command(ctx, name)
            command = typer.main.get_command(import_module(module).app)
            command.name = name
            # Completion is installed once, for `opcloud` itself: a group's own option would write a script
            # for a program named after the group.
            command.params = [p for p in command.params if p.name not in COMPLETION_OPTIONS]
            return command

    return LazyGroup
