"""Pick and run the program of the current stack, under the Pulumi engine or under synth's mocks."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from opcloud.config.environment import PROJECT, from_config, stack_file

PROGRAMS = ("platform", "test-stand")


def current_config() -> dict[str, Any]:
    """The stack's whole config map as the engine (or synth) handed it to this process."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def run() -> None:
    config = current_config()
    program = str(config.get(f"{PROJECT}:program", "platform"))
    source = str(stack_file(pulumi.get_stack()))
    if program == "platform":
        from opcloud.stacks.platform import compose

        compose(from_config(config, source))
    elif program == "test-stand":
        from opcloud.stand.program import compose as compose_stand

        compose_stand(config, source)
    else:
        raise ValueError(f"{source}: {PROJECT}:program: unknown program {program!r}; expected one of {PROGRAMS}")
