"""`opcloud stack check ENV`: the compliance report of a stack, offline. Registered in stacks/cli.py."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from opcloud.console import console, err_console, print_json
from opcloud.errors import CheckFailed
from opcloud.policies.check import check_stack
from opcloud.policies.report import print_report, require_report_path, result_json, write_report
from opcloud.progress import Display


def check_command(
    env: str = typer.Argument(..., help="A stack of this Pulumi project or a path to a Pulumi.<stack>.yaml file."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    report: Path | None = typer.Option(
        None, "--report", help="Also write the report to FILE.md, FILE.html or FILE.json."
    ),
    previous: Path | None = typer.Option(
        None, "--previous", help="A previous FILE.json report: show what changed since that audit."
    ),
    levels: bool = typer.Option(
        False, "--levels", help="Also show MTender's eight levels of defence in depth (MTender stacks always do)."
    ),
) -> None:
    """Check a stack against the policy rules (ISO/IEC 27001, residency).

    COMPLIANT (exit 0): every mandatory rule evaluated and passed; INCOMPLETE (exit 1): a mandatory rule could
    not be evaluated; VIOLATED (exit 1): a mandatory rule failed.
    """
    if report is not None:
        require_report_path(report)  # before the synth, which takes seconds
    with Display().phase(f"synthesizing {escape(env)} offline and checking it..."):
        _, result = check_stack(env, previous)
    if report is not None:
        write_report(result, report)
    if json_output:
        print_json(result_json(result))
    else:
        print_report(result, console, levels=levels)
    if report is not None:
        err_console.print(f"report written to {report}", markup=False, highlight=False)
    if result.verdict == "VIOLATED":
        count = len(result.mandatory_violations)
        raise CheckFailed(f"{result.stack}: VIOLATED: {count} mandatory policy violation{'s' if count != 1 else ''}")
    if result.verdict == "INCOMPLETE":
        names = ", ".join(r.rule.name for r in result.mandatory_incomplete)
        raise CheckFailed(f"{result.stack}: INCOMPLETE: mandatory rules not evaluated: {names}")
