"""The database migration library: copy (offline or online), status, cutover, verify, abort.

Each function takes resolved endpoints and returns a serializable report; the CLI and the plan runner
only print it. Everything that can be checked is checked before anything is written to the target.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from migrate.databases import catalog, replication, schema
from migrate.databases import copy as copier
from migrate.databases import snapshot as snapshots
from migrate.databases.dsn import DbEndpoint
from migrate.databases.progress import CopyProgress, human_bytes
from migrate.databases.state import DEFAULT_STATE_DIR, StateFile
from migrate.databases.tunnel import reach
from migrate.databases.verify import VerifyReport, verify
from opcloud.errors import CheckFailed, InputError


@dataclass
class TableReport:
    table: str
    rows: int
    bytes: int
    seconds: float
    ranges: int
    resumed: bool = False  # copied by an earlier run


@dataclass
class CopyReport:
    source: str
    target: str
    mode: str
    state_file: str
    tables: list[TableReport] = field(default_factory=list)
    post_data_statements: int = 0
    sequences: int = 0
    seconds: float = 0.0
    resumed: bool = False
    warnings: list[str] = field(default_factory=list)
    replication: dict[str, str] = field(default_factory=dict)
    verification: VerifyReport | None = None

    @property
    def ok(self) -> bool:
        return self.verification is None or self.verification.ok

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verification"] = self.verification.to_json() if self.verification else None
        data.update(ok=self.ok, rows=self.rows, bytes=self.bytes)
        return data


def _state(src: DbEndpoint, dst: DbEndpoint, state_dir: Path | None) -> StateFile:
    return StateFile.open(state_dir or DEFAULT_STATE_DIR, src.identity, dst.identity, src.display, dst.display)


def _replication_names(state: StateFile) -> dict[str, str]:
    """Publication, slot and subscription names of an online copy, derived from its state file's name."""
    return replication.names(state.path.stem.removeprefix("db-")[:12])


def _crash_hook(units_done: int) -> None:
    """Tests only: SIGKILL ourselves after N committed units, to prove a rerun resumes."""
    limit = os.environ.get("OPCLOUD_TEST_KILL_AFTER_UNITS")
    if limit and units_done >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def preflight(
    src: DbEndpoint, dst: DbEndpoint, src_conn: psycopg.Connection, dst_conn: psycopg.Connection, *,
    online: bool, resuming: bool,
) -> list[str]:  # fmt: skip
    """Every refusal that must come before the first write. Returns warnings."""
    warnings: list[str] = []
    missing_ext = sorted(set(catalog.extensions(src_conn)) - catalog.available_extensions(dst_conn))
    if missing_ext:
        raise InputError(
            f"extension(s) {', '.join(missing_ext)} used on the source are not available on the target "
            f"{dst.display}: install them on the target server first"
        )
    missing_roles = sorted(catalog.referenced_roles(src_conn) - catalog.existing_roles(dst_conn))
    if missing_roles:
        raise InputError(
            f"role(s) {', '.join(missing_roles)} own or are granted objects on the source but do not exist on the "
            "target: create them first (pg_dumpall --roles-only --no-role-passwords helps)"
        )
    if not resuming:
        count = catalog.user_relation_count(dst_conn)
        if count:
            raise InputError(
                f"target {dst.display} is not empty ({count} tables, views or sequences): give an empty database"
            )
    if online:
        replication.check_logical(src_conn)
        tables = catalog.tables(src_conn)
        bad = replication.unreplicable(tables)
        if bad:
            raise InputError(
                f"online copy refused: table(s) without primary key or replica identity: {', '.join(bad)} "
                "(ALTER TABLE ... REPLICA IDENTITY FULL on the source, or copy offline)"
            )
        full = sorted(t.key for t in tables if t.replica_identity == "f")
        if full:
            warnings.append(f"replicated with REPLICA IDENTITY FULL (slow updates and deletes): {', '.join(full)}")
    return warnings


def copy_database(
    src: DbEndpoint,
    dst: DbEndpoint,
    *,
    online: bool = False,
    jobs: int = 4,
    split_rows: int = 1_000_000,
    state_dir: Path | None = None,
    run_verify: bool = True,
    show_progress: bool = True,
) -> CopyReport:
    started = time.monotonic()
    with reach(src, dst):
        state = _state(src, dst, state_dir)
        st = state.state
        if state.existed and st.phase in ("done", "following", "cut-over"):
            raise InputError(
                f"{src.display} was already copied to {dst.display} ({st.mode}, {st.phase}); see `opcloud migrate db "
                f"status`, or remove {state.path} and empty the target to copy again"
            )
        if state.existed and (online or st.mode == "online"):
            raise InputError(
                f"an online copy cannot resume after a failure: run `opcloud migrate db abort` for this pair, "
                f"empty the target and copy again (state {state.path})"
            )
        resuming = state.existed and st.phase != "new"
        report = CopyReport(src.display, dst.display, "online" if online else "offline", str(state.path))
        report.resumed = resuming

        with src.connect() as src_conn, dst.connect() as dst_conn:
            report.warnings = preflight(src, dst, src_conn, dst_conn, online=online, resuming=resuming)
            names = _replication_names(state)
            progress = CopyProgress(show_progress)
            for warning in report.warnings:
                progress.log(f"warning: {warning}")
            snap: snapshots.Snapshot | None = None
            try:
                if online:
                    replication.create_publication(src_conn, names["publication"])
                    state.update(mode="online", replication=names, phase="schema")
                    snap = snapshots.export_with_slot(src, names["slot"])
                else:
                    snap = snapshots.export(src)
                    state.update(mode="offline", phase="schema")
                with progress:
                    _copy_under_snapshot(src, dst, snap.name, state, report, progress, jobs, split_rows)
                    if run_verify:
                        progress.log("verifying row counts and ordered row hashes...")
                        report.verification = verify(
                            src, dst, jobs=jobs, snapshot=snap.name, check_sequences=not online
                        )
                        state.update(verified=report.verification.ok)
                snap.close()
                snap = None
                if online:
                    replication.create_subscription(dst_conn, src, names)
                    report.replication = names
                    state.update(phase="following")
                else:
                    state.update(phase="done")
            except BaseException:
                if snap is not None:
                    snap.close()
                if online:
                    # An online copy never resumes: leave no slot or publication behind on the source.
                    replication.cleanup(src_conn, dst_conn, names)
                raise
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _copy_under_snapshot(
    src: DbEndpoint, dst: DbEndpoint, snap: str, state: StateFile, report: CopyReport,
    progress: CopyProgress, jobs: int, split_rows: int,
) -> None:  # fmt: skip
    st = state.state
    if not st.schema_done:
        progress.log("schema: restoring pre-data (types, tables, functions, views, owners, grants)...")
        schema.restore_script(dst, schema.dump(src, "pre-data", snap))
        state.update(schema_done=True)
    with snapshots.connect_in(src, snap) as cat:
        tables = catalog.tables(cat)
        post_data = schema.dump(src, "post-data", snap)

    state.update(phase="data")
    recorded = {key: t.status for key, t in st.tables.items()}
    loaded = [t for t in tables if recorded.get(t.key) == "done"]  # by an earlier run
    todo = [t for t in tables if recorded.get(t.key) != "done"]
    _truncate_half_done(dst, [t for t in todo if recorded.get(t.key) == "started"])
    lock = threading.Lock()
    units_done = 0

    def on_entry(entry: schema.Entry, seconds: float) -> None:
        state.post_data_done(entry.id)
        with lock:
            report.post_data_statements += 1
        if seconds >= 1:
            progress.log(f"built {entry.kind.lower()} {entry.name} in {seconds:.1f}s")

    post = schema.PostData(dst, post_data, jobs, set(st.post_data_done), on_entry)
    for t in loaded:
        done = st.tables[t.key]
        report.tables.append(TableReport(t.key, done.rows, done.bytes, done.seconds, done.ranges, resumed=True))
        post.table_loaded(t.key)

    # Tables with the most index work go first, so that their index builds overlap the copy of the rest.
    todo.sort(key=lambda t: t.size_bytes * (1 + post.entries_on(t.key)), reverse=True)
    plans = {t.key: copier.plan_units(t, split_rows, jobs) for t in todo}
    units = [u for t in todo for u in plans[t.key]]
    totals: dict[str, _TableTotals] = {}
    for t in todo:
        state.table(t.key, status="started", ranges=len(plans[t.key]), ranges_done=0, rows=0, bytes=0)
        progress.add(t.key, t.size_bytes)

    def on_unit(result: copier.UnitResult) -> None:
        nonlocal units_done
        key = result.unit.table.key
        with lock:
            began = time.monotonic() - result.seconds
            total = totals.setdefault(key, _TableTotals(began))
            total.rows += result.rows
            total.bytes += result.bytes
            total.began = min(total.began, began)
            total.ranges_done += 1
            finished = total.ranges_done == result.unit.count
            seconds = round(time.monotonic() - total.began, 3)
            units_done += 1
        if finished:
            state.table(key, status="done", rows=total.rows, bytes=total.bytes, seconds=seconds,
                        ranges_done=total.ranges_done)  # fmt: skip
            report.tables.append(TableReport(key, total.rows, total.bytes, seconds, total.ranges_done))
            progress.finish(key, total.rows, total.bytes, seconds)
            post.table_loaded(key)
        else:
            state.table(key, ranges_done=total.ranges_done)
        _crash_hook(units_done)

    try:
        copier.copy_units(src, dst, snap, units, jobs, lambda u, n: progress.advance(u.table.key, n), on_unit)
        report.tables.sort(key=lambda t: t.table)
        state.update(phase="post-data")
        progress.log("data copied; remaining indexes, constraints, foreign keys, triggers...")
        post.finish()
    finally:
        post.close()

    state.update(phase="sequences")
    with src.connect() as src_conn, dst.connect() as dst_conn:
        seqs = catalog.sequences(src_conn)
        catalog.set_sequences(dst_conn, seqs)
    report.sequences = len(seqs)
    state.update(phase="verify")
    progress.log(f"copied {len(report.tables)} tables, {report.rows} rows, {human_bytes(report.bytes)}")


@dataclass
class _TableTotals:
    """What the committed units of one table add up to so far."""

    began: float  # monotonic time the table's first unit started
    rows: int = 0
    bytes: int = 0
    ranges_done: int = 0


def _truncate_half_done(dst: DbEndpoint, tables: list[catalog.Table]) -> None:
    if not tables:
        return
    with dst.connect() as conn:
        conn.execute("TRUNCATE " + ", ".join(f"ONLY {t.qualified}" for t in tables))  # type: ignore[arg-type]


# -- verify, status, cutover, abort ---------------------------------------------------------------------


def verify_databases(src: DbEndpoint, dst: DbEndpoint, jobs: int = 4) -> VerifyReport:
    with reach(src, dst):
        return verify(src, dst, jobs=jobs)


@dataclass
class StatusReport:
    source: str
    target: str
    state_file: str
    known: bool
    mode: str | None = None
    phase: str | None = None
    tables_done: int = 0
    tables_total: int = 0
    rows: int = 0
    bytes: int = 0
    verified: bool | None = None
    lag: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def status(src: DbEndpoint, dst: DbEndpoint, state_dir: Path | None = None) -> StatusReport:
    state = _state(src, dst, state_dir)
    report = StatusReport(src.display, dst.display, str(state.path), known=state.existed)
    if not state.existed:
        return report
    st = state.state
    report.mode, report.phase, report.verified = st.mode, st.phase, st.verified
    report.tables_total = len(st.tables)
    report.tables_done = sum(1 for t in st.tables.values() if t.status == "done")
    report.rows = sum(t.rows for t in st.tables.values())
    report.bytes = sum(t.bytes for t in st.tables.values())
    if st.mode == "online" and st.phase == "following":
        with reach(src, dst), src.connect() as src_conn, dst.connect() as dst_conn:
            names = st.replication
            report.lag = replication.lag(src_conn, names["slot"], dst_conn, names["subscription"]).to_json()
    return report


@dataclass
class CutoverReport:
    source: str
    target: str
    sessions_terminated: int = 0
    sequences: int = 0
    cleaned_up: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verification: VerifyReport | None = None
    next_steps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verification is not None and self.verification.ok

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verification"] = self.verification.to_json() if self.verification else None
        data["ok"] = self.ok
        return data


def cutover(
    src: DbEndpoint, dst: DbEndpoint, *, state_dir: Path | None = None, jobs: int = 4, timeout: float = 300.0,
    show_progress: bool = True,
) -> CutoverReport:  # fmt: skip
    """Source read-only, wait for zero lag, sync sequences, drop replication, verify, say what is next."""
    started = time.monotonic()
    state = _state(src, dst, state_dir)
    st = state.state
    if not state.existed or st.mode != "online" or st.phase != "following":
        raise InputError(
            f"no online copy from {src.display} to {dst.display} is following changes "
            f"(state {state.path}: {st.phase if state.existed else 'none'}); start one with `copy --online`"
        )
    progress = CopyProgress(show_progress)
    report = CutoverReport(src.display, dst.display)
    names = st.replication
    with reach(src, dst):
        with src.connect() as src_conn, dst.connect() as dst_conn:
            progress.log(f"setting {src.dbname} read-only on the source and ending its sessions...")
            report.sessions_terminated = replication.set_read_only(src_conn, src.dbname)
            progress.log("waiting for the target to apply every change...")
            replication.wait_caught_up(src_conn, names["slot"], timeout)
            seqs = catalog.sequences(src_conn)
            catalog.set_sequences(dst_conn, seqs)
            report.sequences = len(seqs)
            report.cleaned_up = replication.cleanup(src_conn, dst_conn, names)
            state.update(phase="cut-over")
        progress.log("final verification...")
        report.verification = verify(src, dst, jobs=jobs)
    state.update(verified=report.verification.ok)
    report.next_steps = [
        f"point the applications at {dst.display}",
        f"the source {src.display} stays read-only; undo with ALTER DATABASE {src.dbname} "
        "RESET default_transaction_read_only",
        "take a fresh backup of the target and enable its backups/WAL archiving before opening it to writes",
    ]
    report.seconds = round(time.monotonic() - started, 3)
    return report


def abort(src: DbEndpoint, dst: DbEndpoint, state_dir: Path | None = None) -> list[str]:
    """Drop an online copy's replication objects and its state; the target's data stays as it is."""
    state = _state(src, dst, state_dir)
    names = state.state.replication or _replication_names(state)
    with reach(src, dst), src.connect() as src_conn, dst.connect() as dst_conn:
        dropped = replication.cleanup(src_conn, dst_conn, names)
    state.remove()
    return dropped


def ensure_ok(report: CopyReport | CutoverReport | VerifyReport) -> None:
    verification = report if isinstance(report, VerifyReport) else report.verification
    if verification is not None and not verification.ok:
        raise CheckFailed("verification failed: " + "; ".join(verification.problems[:5]))
