"""`opcloud report`: reports the operators owe (thin: parse, delegate, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from opcloud.console import console, err_console, print_json
from opcloud.errors import CheckFailed, InputError
from opcloud.incident import incident_from, read_incident, to_markdown
from opcloud.paths import require_writable_file

app = typer.Typer(
    help="Draft the reports the platform's operators owe (incidents, the yearly audit).", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Draft the reports the platform's operators owe: `incident` (due within three hours), `audit` (yearly)."""


@app.command("incident")
def incident_command(
    source: Path | None = typer.Option(None, "--from", help="A YAML or JSON file with the incident's fields."),
    platform: str | None = typer.Option(None, help="The platform's name, e.g. ProZorro."),
    detected_at: str | None = typer.Option(None, "--detected-at", help="ISO 8601 with offset: 2026-12-01T09:40+02:00."),
    description: str | None = typer.Option(None, help="What happened, in a few sentences."),
    violated: list[str] | None = typer.Option(
        None, "--violated", help="confidentiality, integrity or availability (repeatable)."
    ),
    origin: str | None = typer.Option(None, help="external or internal."),
    cause: list[str] | None = typer.Option(None, "--cause", help="A cause known so far (repeatable)."),
    criticality: str | None = typer.Option(None, help="low, medium, high or critical."),
    module: str | None = typer.Option(None, help="The part of the platform concerned, e.g. public API."),
    action: list[str] | None = typer.Option(None, "--action", help="An action taken (repeatable)."),
    reporter: str | None = typer.Option(None, help="Who reports."),
    out: Path | None = typer.Option(None, "--out", help="Also write the report (Markdown) to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Draft the incident report due to the administrator within three hours of detection.

    Fields come from --from FILE and the options (an option overrides the file); every missing or wrong field is
    named at once. The report states when it is due.
    """
    if out is not None:
        require_writable_file(out, "report")
    fields: dict[str, Any] = read_incident(source) if source is not None else {}
    given = {
        "platform": platform, "detectedAt": detected_at, "description": description, "propertiesViolated": violated,
        "origin": origin, "causes": cause, "criticality": criticality, "module": module, "actionsTaken": action,
        "reporter": reporter,
    }  # fmt: skip
    fields.update({key: value for key, value in given.items() if value not in (None, [])})
    incident = incident_from(fields, str(source) if source is not None else "incident")
    text = to_markdown(incident)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as error:
            raise InputError(f"{out}: {error.strerror}") from None
    if as_json:
        print_json(incident.to_json())
    else:
        console.print(text, markup=False, highlight=False)
    if out is not None:
        err_console.print(f"report written to {out}", markup=False, highlight=False)


@app.command("audit")
def audit_command(
    stacks: list[str] | None = typer.Argument(None, help="Stacks to audit; default every stack of the project."),
    out: Path = typer.Option(..., "--out", help="The folder of this audit (one JSON report per stack, audit.md)."),
    previous: Path | None = typer.Option(None, "--previous", help="The folder of the previous audit."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """The yearly internal audit: every stack checked and compared with the previous audit's folder.

    Exit 1 when a stack is not COMPLIANT (the folder is written all the same: it is the audit's evidence).
    """
    from opcloud.config.environment import list_stacks
    from opcloud.policies.audit import run_audit

    entries = run_audit(stacks or list_stacks(), out, previous)
    summary = [
        {"stack": e.stack, "verdict": e.result.verdict, "previousFound": e.previous_found,
         "sinceLastAudit": e.result.comparison.to_json() if e.result.comparison else None}
        for e in entries
    ]  # fmt: skip
    if as_json:
        print_json({"out": str(out), "stacks": summary})
    else:
        console.print((out / "audit.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    failing = [e.stack for e in entries if e.result.verdict != "COMPLIANT"]
    if failing:
        raise CheckFailed(f"not COMPLIANT: {', '.join(failing)} (reports in {out})")
