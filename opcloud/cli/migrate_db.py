"""`opcloud migrate db`: copy, follow, cut over and verify PostgreSQL databases between providers.

SRC and DST are `env:VARIABLE` (the DSN is in that environment variable) or a DSN without password
(`postgresql://user@host:5432/db?sslmode=verify-full&sslrootcert=ca.pem&ssh=user@bastion:22`), the
password then coming from the pgpass file ($PGPASSFILE or ~/.pgpass).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from opcloud.console import console, print_json
from opcloud.interrupts import resumable
from opcloud.migrate.databases import dsn, engine
from opcloud.migrate.databases.verify import VerifyReport
from opcloud.progress import iec

app = typer.Typer(help="Copy PostgreSQL between providers (offline or online), cut over, verify.", no_args_is_help=True)

SRC = typer.Argument(..., help="source: env:VARIABLE or a DSN without password (password from PGPASSFILE)")
DST = typer.Argument(..., help="target: env:VARIABLE or a DSN without password (password from PGPASSFILE)")
JSON = typer.Option(False, "--json", help="Print the report as JSON on stdout.")
STATE_DIR = typer.Option(None, "--state-dir", help="Where the copy state lives (default .opcloud/state/databases).")
JOBS = typer.Option(4, "--jobs", "-j", min=1, max=64, help="Parallel COPY streams, index builds and hashes.")


@app.command("copy")
def copy_cmd(
    source: str = SRC,
    target: str = DST,
    online: bool = typer.Option(False, "--online", help="Keep following changes by logical replication until cutover."),
    jobs: int = JOBS,
    split_rows: int = typer.Option(1_000_000, "--split-rows", min=1000, help="Copy bigger tables in page ranges."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the verification at the end."),
    subscription_passfile: str | None = typer.Option(
        None,
        "--subscription-passfile",
        help="With --online on a self-managed target: a pgpass file ON THE TARGET SERVER'S MACHINE (readable by "
        "its postgres user) holding the source's password; the subscription then carries no password at all.",
    ),
    state_dir: Path | None = STATE_DIR,
    json: bool = JSON,
) -> None:
    """Copy schema, data, large objects, indexes, sequences, owners, grants and the database's own settings,
    grants and comment; verify all of it; with --online keep following.

    With --online the target's subscription holds the source's password in its connection string
    (pg_subscription, readable by superusers only): PostgreSQL has no other way to give it to the
    target. The CREATE SUBSCRIPTION is kept out of the target's statement log when the migration role may
    turn logging off for its session (superuser, or GRANT SET ON PARAMETER); otherwise a warning says it
    may be logged (log_statement=ddl or all): use a replication role whose password you rotate afterwards.
    On a self-managed target, --subscription-passfile keeps the password out of every statement.
    """
    src, dst = dsn.parse(source), dsn.parse(target)
    # A copy killed at any point resumes (the suite kills it with SIGKILL): Ctrl-C need not wait. Cutover is
    # never cut short this way: it gives the source its writes back first.
    with resumable("tables copied so far are kept in the state; run the same command again to resume"):
        report = engine.copy_database(
            src, dst, online=online, jobs=jobs, split_rows=split_rows, state_dir=state_dir,
            run_verify=not no_verify, show_progress=True, subscription_passfile=subscription_passfile,
        )  # fmt: skip
    if json:
        print_json(report.to_json())
    else:
        table = Table("table", "rows", "size", "seconds", "ranges", title=f"{report.source} -> {report.target}")
        for t in report.tables:
            table.add_row(t.table, str(t.rows), iec(t.bytes), f"{t.seconds:.1f}", str(t.ranges)
                          + (" (earlier run)" if t.resumed else ""))  # fmt: skip
        console.print(table)
        console.print(
            f"{len(report.tables)} tables, {report.rows} rows, {iec(report.bytes)}, "
            f"{report.large_objects} large objects ({iec(report.large_object_bytes)}), "
            f"{report.post_data_statements} indexes/constraints, {report.sequences} sequences, "
            f"{report.database_properties} database-level changes in {report.seconds:.1f}s"
        )
        if report.repaired:
            console.print(f"copied again after the failed verification: {', '.join(report.repaired)}")
        for warning in report.warnings:
            console.print(f"warning: {warning}")
        _print_verification(report.verification)
        if report.replication:
            console.print(
                f"following changes through slot {report.replication['slot']}: watch with `opcloud migrate db "
                "status`, finish with `opcloud migrate db cutover` (same SRC DST)"
            )
    engine.ensure_ok(report)


@app.command("status")
def status_cmd(source: str = SRC, target: str = DST, state_dir: Path | None = STATE_DIR, json: bool = JSON) -> None:
    """Progress of a copy, and the replication lag of an online copy."""
    report = engine.status(dsn.parse(source), dsn.parse(target), state_dir)
    if json:
        print_json(report.to_json())
        return
    if not report.known:
        console.print(f"no copy recorded from {report.source} to {report.target}")
        return
    console.print(
        f"{report.mode} copy {report.source} -> {report.target}: {report.phase}, tables "
        f"{report.tables_done}/{report.tables_total}, {report.rows} rows, {iec(report.bytes)}, "
        f"verified: {report.verified}"
    )
    for problem in report.problems[:20]:
        console.print(f"  - last verification: {problem}", markup=False)
    if report.lag:
        lag = report.lag
        console.print(
            f"replication slot {lag['slot']}: {'active' if lag['active'] else 'INACTIVE'}, lag "
            f"{iec(lag['lagBytes'] or 0)} (source at {lag['sourceLsn']}, confirmed {lag['confirmedLsn']})"
        )


@app.command("cutover")
def cutover_cmd(
    source: str = SRC,
    target: str = DST,
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the target to catch up."),
    health_window: float = typer.Option(
        15.0, "--health-window", min=1.0, help="Seconds to watch the lag fall before the source is touched."
    ),
    jobs: int = JOBS,
    state_dir: Path | None = STATE_DIR,
    json: bool = JSON,
) -> None:
    """Check replication is healthy, close the source to writes, wait for zero lag, sync sequences, verify,
    remove replication. If anything fails once the source is closed, it is opened again.

    Closing the source: CONNECT on the source database is revoked from PUBLIC and every role but the
    migration role, every other session is ended, and new sessions default to read-only. Needs ownership of
    the source database and pg_signal_backend; superusers and the migration role can still connect.
    """
    report = engine.cutover(
        dsn.parse(source), dsn.parse(target), state_dir=state_dir, jobs=jobs, timeout=timeout,
        health_window=health_window,
    )  # fmt: skip
    if json:
        print_json(report.to_json())
    else:
        console.print(f"cut over {report.source} -> {report.target} in {report.seconds:.1f}s")
        console.print(
            f"sessions ended on the source: {report.sessions_terminated}; sequences synced: {report.sequences}"
        )
        console.print(f"roles still able to connect to the source: {', '.join(report.still_able_to_connect)}")
        for item in report.cleaned_up:
            console.print(f"dropped {item}")
        _print_verification(report.verification)
        console.print("next steps:")
        for step in report.next_steps:
            console.print(f"  - {step}")
    engine.ensure_ok(report)


@app.command("verify")
def verify_cmd(
    source: str = SRC, target: str = DST, jobs: int = JOBS, state_dir: Path | None = STATE_DIR, json: bool = JSON
) -> None:
    """Compare row counts, ordered row hashes, large objects (contents by hash, owners, grants, comments),
    sequences, schemas and database-level properties of two databases."""
    report = engine.verify_databases(dsn.parse(source), dsn.parse(target), jobs=jobs, state_dir=state_dir)
    if json:
        print_json(report.to_json())
    else:
        _print_verification(report)
    engine.ensure_ok(report)


@app.command("abort")
def abort_cmd(source: str = SRC, target: str = DST, state_dir: Path | None = STATE_DIR, json: bool = JSON) -> None:
    """Open the source again if a failed cutover left it closed, drop an online copy's subscription, slot and
    publication, and forget its state (target data is kept)."""
    dropped = engine.abort(dsn.parse(source), dsn.parse(target), state_dir)
    if json:
        print_json({"dropped": dropped})
    else:
        for item in dropped or ["nothing to drop"]:
            console.print(f"dropped {item}" if dropped else item)


def _print_verification(report: VerifyReport | None) -> None:
    if report is None:
        return
    rows = sum(t.source_rows for t in report.tables)
    if report.ok:
        console.print(
            f"verified: {len(report.tables)} tables, {rows} rows, {report.large_objects_checked} large objects, "
            "schemas and database properties equal"
        )
        return
    console.print(f"[bold red]verification failed[/] ({len(report.problems)} problems):")
    for problem in report.problems[:50]:
        console.print(f"  - {problem}", markup=False)
