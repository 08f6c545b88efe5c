"""`pulumi up|preview|destroy` through the Automation API, for users who have the Pulumi CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any, Literal

from opcloud.stacks.synth import validate

from opcloud.config.environment import open_stack
from opcloud.config.project import find_project
from opcloud.errors import CheckFailed, InputError, ToolMissingError

Operation = Literal["up", "preview", "destroy"]


def failure_line(error: Exception) -> str:
    """The last non-empty line of a failed Pulumi command: the one that says why."""
    return next((line.strip() for line in reversed(str(error).splitlines()) if line.strip()), "failed")


def require_pulumi_cli() -> str:
    path = shutil.which("pulumi")
    if path is None:
        raise ToolMissingError(
            "the Pulumi CLI is not installed: install it with `curl -fsSL https://get.pulumi.com | sh` "
            "and log in (`pulumi login`); `opcloud stack synth` works offline without it"
        )
    return path


def select_stack(stack_name: str) -> Any:
    """The Automation API stack for `stack_name`, in the project around the working directory."""
    from pulumi import automation

    require_pulumi_cli()
    return automation.create_or_select_stack(stack_name=stack_name, work_dir=str(find_project().directory))


def run(env: str, operation: Operation, on_output: Callable[[str], None]) -> dict[str, Any]:
    """Validate ENV offline first, then run `operation` on it; returns a summary for --json."""
    from pulumi import automation

    stack_file = open_stack(env)
    stacks_dir = find_project().stacks_dir
    if stack_file.path.resolve().parent != stacks_dir:
        raise InputError(f"{stack_file.path}: deploy only stacks kept in {stacks_dir} (synth takes any file)")
    validate(stack_file)
    stack = select_stack(stack_file.stack)
    try:
        if operation == "up":
            result = stack.up(on_output=on_output)
            return {
                "stack": stack_file.stack,
                "operation": operation,
                "summary": result.summary.result,
                "outputs": {k: "[secret]" if v.secret else v.value for k, v in result.outputs.items()},
            }
        if operation == "preview":
            preview = stack.preview(on_output=on_output)
            return {"stack": stack_file.stack, "operation": operation, "changes": preview.change_summary}
        result = stack.destroy(on_output=on_output)
        return {"stack": stack_file.stack, "operation": operation, "summary": result.summary.result}
    except automation.errors.CommandError as error:
        raise CheckFailed(f"pulumi {operation} {stack_file.stack} failed: {failure_line(error)}") from None
