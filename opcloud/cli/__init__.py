"""The `opcloud` command line: assembles the command groups, formats errors in one place."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path
from typing import Any

import typer

from opcloud import __version__, logs
from opcloud.cli.lazy import lazy_group
from opcloud.console import print_error
from opcloud.errors import OpcloudError

# Each command group lives in its own module, imported only when it runs (or when help lists it).
GROUPS: dict[str, str] = {
    "stack": "opcloud.cli.stack",
    "migrate": "opcloud.cli.migrate",
    "stand": "opcloud.cli.stand",
    "hosts": "opcloud.cli.hosts",
    "report": "opcloud.cli.report",
}


class OpcloudGroup(lazy_group(GROUPS)):  # type: ignore[misc]
    """Root group: every error, ours or a usage error of the command line, becomes one `error:` line and its
    exit code (0 ok, 1 failed, 2 bad input, 130 interrupted), never a traceback or a boxed panel."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OpcloudError as error:
            for line in getattr(error, "lines", None) or [str(error)]:
                print_error(line)
            raise typer.Exit(error.exit_code) from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:  # typer's (vendored) click errors: usage, bad parameter, ...
            result = _usage_error(error)
        except (KeyboardInterrupt, typer.Abort):
            print_error("interrupted")
            result = 130
        code = result if isinstance(result, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_error(error: Exception) -> int:
    """One `error:` line for a command-line mistake; a group named without a command prints its help."""
    context = getattr(error, "ctx", None)
    message = error.format_message() if hasattr(error, "format_message") else str(error)
    if context is not None and message == context.get_help():
        typer.echo(message)  # `opcloud stack` alone: its help, as `opcloud` alone does
        return 0
    where = f" (see `{context.command_path} --help`)" if context is not None else ""
    print_error(f"{message}{where}")
    return int(getattr(error, "exit_code", 2))


app = typer.Typer(
    cls=OpcloudGroup,
    name="opcloud",
    help="Deploy procurement platforms per country on AWS, Azure or IaaS clouds, check them, move their data.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"opcloud {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, envvar="OPCLOUD_VERBOSE",
        help="Show log records on stderr: -v info, -vv debug (SDK requests). Secrets are masked.",
    ),
    cwd: Path | None = typer.Option(
        None, "--cwd", "-C", file_okay=False, exists=True,
        help="Run as if started in this directory (where the Pulumi project, Pulumi.yaml, is looked for).",
    ),
    log_file: Path | None = typer.Option(
        None, "--log-file", envvar="OPCLOUD_LOG_FILE", dir_okay=False,
        help="Append every log record at debug level (SDK requests included, secrets masked) to this file.",
    ),
) -> None:
    """opcloud: infrastructure as code and data migration for public-procurement platforms."""
    logs.configure(verbose, log_file)
    if cwd is not None:
        os.chdir(cwd)
    if ctx.invoked_subcommand is None:  # `opcloud` alone: the help, and success
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def main() -> None:
    """Run the command, then exit without tearing down the heap when nothing else runs.

    Interpreter teardown frees the SDKs' loaded service models object by object: ~0.3 s, a fifth of a
    no-change `migrate copy`. Output is flushed and exit handlers still run; only the freeing is skipped.
    """
    try:
        app(prog_name="opcloud")  # the same program name however it was started (completion, usage)
        code: int | str | None = 0
    except SystemExit as done:
        code = done.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    if threading.active_count() > 1:  # a thread still running: let the normal shutdown wait for it
        # The command is over: what the teardown's garbage collection finds (an SDK's event loop closed twice)
        # can no longer be acted on, and must not reach the terminal after the result.
        sys.unraisablehook = lambda _: None
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
