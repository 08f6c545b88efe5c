"""The database migration library: copy (offline or online), status, cutover, verify, abort.

Each function takes resolved endpoints and returns a serializable report; the CLI and the plan runner
only print it. Everything that can be checked is checked before anything is written to the target.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from opcloud.migrate.databases import catalog, dbprops, guard, largeobjects, replication, schema
from opcloud.migrate.databases import copy as copier
from opcloud.migrate.databases import snapshot as snapshots
from opcloud.migrate.databases.dsn import DbEndpoint
from opcloud.migrate.databases.lock import run_lock
from opcloud.migrate.databases.progress import CopyProgress
from opcloud.migrate.databases.state import FINISHED, Phase, StateFile, default_state_dir, load
from opcloud.migrate.databases.tunnel import reach
from opcloud.migrate.databases.verify import VerifyReport, verify
from psycopg import sql

from opcloud.errors import CheckFailed, InputError, OpcloudError
from opcloud.jsonstyle import to_json
from opcloud.progress import iec


@dataclass
class TableReport:
    table: str  # for people; schema and name are the identifiers
    schema: str
    name: str
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
    large_objects: int = 0
    large_object_bytes: int = 0
    database_properties: int = 0  # statements that made the target database's own properties equal
    seconds: float = 0.0
    resumed: bool = False
    warnings: list[str] = field(default_factory=list)
    replication: dict[str, str] = field(default_factory=dict)
    subscription_logged: bool = False  # the CREATE SUBSCRIPTION (with the password) may be in the target's log
    repaired: list[str] = field(default_factory=list)  # tables copied again after a failed verification
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
        data: dict[str, Any] = to_json(self)
        data["verification"] = self.verification.to_json() if self.verification else None
        data.update(ok=self.ok, rows=self.rows, bytes=self.bytes)
        return data


def _state(src: DbEndpoint, dst: DbEndpoint, state_dir: Path | None) -> StateFile:
    directory = state_dir or default_state_dir(src.identity, dst.identity)
    return StateFile.open(directory, src.identity, dst.identity, src.display, dst.display)


def _replication_names(state: StateFile) -> dict[str, str]:
    """Publication, slot and subscription names of an online copy, derived from its state file's name."""
    return replication.names(state.path.stem.removeprefix("db-")[:12])


def _no_hook(done: int) -> None:
    return None


# Called with how many are done after each committed unit of data and each large-object batch. Nothing by default;
# the crash tests set them (in the process they start) to kill it at a chosen point and prove a rerun resumes.
after_unit: Callable[[int], None] = _no_hook
after_large_object_batch: Callable[[int], None] = _no_hook


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
    subscriptions = [
        r[0]
        for r in src_conn.execute(
            "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()) ORDER BY 1"
        ).fetchall()
    ]
    if subscriptions:
        raise InputError(
            f"the source database has subscription(s) {', '.join(subscriptions)}, which are not carried (the target "
            "would subscribe a second time): create them on the target after cutover, or copy without them"
        )
    props = dbprops.read(src_conn)
    missing_roles = sorted((catalog.referenced_roles(src_conn) | props.roles()) - catalog.existing_roles(dst_conn))
    if missing_roles:
        raise InputError(
            f"role(s) {', '.join(missing_roles)} own, are granted or have settings on objects or the database on "
            "the source but do not exist on the target: create them first (pg_dumpall --roles-only "
            "--no-role-passwords helps)"
        )
    target_props = dbprops.read(dst_conn)
    if props.encoding != target_props.encoding:
        raise InputError(
            f"the source database is encoded {props.encoding}, the target {target_props.encoding}: create the "
            f"target database with ENCODING '{props.encoding}'"
        )
    refused = dbprops.trial(dst_conn, props, dst.dbname)
    if refused:
        raise InputError(f"a database-level property of the source cannot be carried to the target: {refused}")
    if online:
        if _read_only(src_conn):
            raise InputError(
                f"the source {src.display} is read-only ({_read_only(src_conn)}): an online copy creates a "
                "publication and a replication slot there; copy offline, or from the writable primary"
            )
        lobs = largeobjects.count(src_conn)
        if lobs:
            raise InputError(
                f"online copy refused: the source holds {lobs} large object(s), which logical replication does not "
                "carry; copy offline (with the applications stopped)"
            )
    if not resuming:
        count = catalog.user_relation_count(dst_conn)
        if count:
            raise InputError(
                f"target {dst.display} is not empty ({count} tables, views or sequences): give an empty database"
            )
        if largeobjects.count(dst_conn):
            raise InputError(f"target {dst.display} is not empty (it holds large objects): give an empty database")
    if online:
        replication.check_logical(src_conn)
        tables = catalog.tables(src_conn)
        bad = replication.unreplicable(tables)
        if bad:
            raise InputError(
                f"online copy refused: table(s) without primary key or replica identity: {', '.join(bad)} "
                "(ALTER TABLE ... REPLICA IDENTITY FULL on the source, or copy offline)"
            )
        full = sorted(t.display for t in tables if t.replica_identity == "f")
        if full:
            warnings.append(f"replicated with REPLICA IDENTITY FULL (slow updates and deletes): {', '.join(full)}")
    return warnings


def _read_only(conn: psycopg.Connection) -> str | None:
    """Why the server refuses writes from this session, or None."""
    row = conn.execute("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')").fetchone()
    assert row is not None
    if row[0]:
        return "a standby in recovery"
    if row[1] == "on":
        return "default_transaction_read_only is on"
    return None


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
    subscription_passfile: str | None = None,
) -> CopyReport:
    """`subscription_passfile`: a pgpass file on the target server's machine, from which its subscription
    takes the source's password (self-managed targets only): no password in any statement then."""
    if subscription_passfile is not None and not online:
        raise InputError("--subscription-passfile is for an online copy (--online) only")
    started = time.monotonic()
    with reach(src, dst), run_lock(dst):
        state = _state(src, dst, state_dir)
        st = state.state
        if state.existed and st.phase in FINISHED:
            raise InputError(
                f"{src.display} was already copied to {dst.display} ({st.mode}, {st.phase}); see `opcloud migrate db "
                f"status`, or remove {state.path} and empty the target to copy again"
            )
        if state.existed and (online or st.mode == "online"):
            raise InputError(
                f"an online copy cannot resume after a failure: run `opcloud migrate db abort` for this pair, "
                f"empty the target and copy again (state {state.path})"
            )
        if state.existed and st.phase == Phase.VERIFY_FAILED and _unrepairable(st.problems):
            raise CheckFailed(
                f"the last verification found differences a rerun cannot repair ({_unrepairable(st.problems)[0]}): "
                f"empty the target database, remove {state.path} and copy again"
            )
        resuming = state.existed and st.phase != Phase.NEW
        report = CopyReport(src.display, dst.display, "online" if online else "offline", str(state.path))
        report.resumed = resuming
        if state.existed and st.phase == Phase.VERIFY_FAILED:
            report.repaired = sorted(catalog.display_name(*key) for key, t in st.tables.items() if t.status != "done")

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
                    state.update(mode="online", replication=names, phase=Phase.SCHEMA)
                    snap = snapshots.export_with_slot(src, names["slot"])
                else:
                    snap = snapshots.export(src)
                    state.update(mode="offline", phase=Phase.SCHEMA)
                with progress:
                    _copy_under_snapshot(src, dst, snap.name, state, report, progress, jobs, split_rows)
                    if run_verify:
                        progress.log("verifying row counts, ordered row hashes, large objects and schema...")
                        report.verification = verify(
                            src, dst, jobs=jobs, snapshot=snap.name, check_sequences=not online
                        )
                        state.update(verified=report.verification.ok)
                snap.close()
                snap = None
                if report.verification is not None and not report.verification.ok:
                    _record_failed_verification(state, report.verification)
                    if online:
                        replication.cleanup(src_conn, dst_conn, names)
                elif online:
                    quiet = replication.create_subscription(dst_conn, src, names, subscription_passfile)
                    report.subscription_logged = not quiet and subscription_passfile is None
                    if report.subscription_logged:
                        report.warnings.append(
                            "statement logging could not be switched off on the target (not superuser): the "
                            "CREATE SUBSCRIPTION holding the source's password may be in the target's server log"
                        )
                    report.replication = names
                    state.update(phase=Phase.FOLLOWING)
                else:
                    state.update(phase=Phase.DONE, problems=[])
            except BaseException:
                if snap is not None:
                    snap.close()
                if online:
                    # An online copy never resumes: leave no slot or publication behind on the source.
                    replication.cleanup(src_conn, dst_conn, names)
                raise
    report.seconds = round(time.monotonic() - started, 3)
    return report


# What a rerun repairs after a failed verification: rows, sequences, large-object contents, database properties.
_REPAIRABLE = re.compile(
    r"^(.+: \d+ rows on the source, \d+ on the target"
    r"|.+: same row count \(\d+\) but the rows differ \(hash mismatch\)"
    r"|sequence behind on the target: .+"
    r"|large object \d+: .+|large object \d+ only on the target"
    r"|database properties (missing on the target|only on the target): (?!encoding |collate |ctype ).+)$",
    re.DOTALL,
)


def _unrepairable(problems: list[str]) -> list[str]:
    """Problems a rerun cannot put right (schema, large-object entries): the user has to start over."""
    return [p for p in problems if not _REPAIRABLE.match(p)]


def _record_failed_verification(state: StateFile, verification: VerifyReport) -> None:
    """Phase verify-failed, never done: the differing tables are redone by the next run, the large objects
    and database properties written again."""
    for check in verification.tables:
        if not check.ok:
            state.table((check.schema, check.name), status="started")
    changes: dict[str, Any] = {"phase": Phase.VERIFY_FAILED, "verified": False, "problems": verification.problems}
    if verification.large_objects:
        changes["large_objects_done"] = 0
    if "database" in verification.schema:
        changes["database_settings_done"] = False
    state.update(**changes)


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

    state.update(phase=Phase.DATA)
    recorded = {key: t.status for key, t in st.tables.items()}
    loaded = [t for t in tables if recorded.get(t.key) == "done"]  # by an earlier run
    todo = [t for t in tables if recorded.get(t.key) != "done"]
    dropped_keys = _truncate_half_done(dst, [t for t in todo if recorded.get(t.key) == "started"])
    if dropped_keys:
        state.update(post_data_done=[e for e in st.post_data_done if e not in dropped_keys])
    lock = threading.Lock()
    units_done = 0

    def on_entry(entry: schema.Entry, seconds: float) -> None:
        state.post_data_done(entry.id)
        with lock:
            report.post_data_statements += 1
        if seconds >= 1:
            progress.log(f"built {entry.kind.lower()} {entry.name} in {seconds:.1f}s")

    ours = st.replication.get("publication")
    post = schema.PostData(dst, post_data, jobs, set(st.post_data_done), on_entry, skip_publication=ours)
    for t in loaded:
        done = st.tables[t.key]
        report.tables.append(
            TableReport(t.display, t.schema, t.name, done.rows, done.bytes, done.seconds, done.ranges, resumed=True)
        )
        post.table_loaded(t.key)

    # Tables with the most index work go first, so that their index builds overlap the copy of the rest.
    todo.sort(key=lambda t: t.size_bytes * (1 + post.entries_on(t.key)), reverse=True)
    plans = {t.key: copier.plan_units(t, split_rows, jobs) for t in todo}
    units = [u for t in todo for u in plans[t.key]]
    totals: dict[tuple[str, str], _TableTotals] = {}
    for t in todo:
        state.table(t.key, status="started", ranges=len(plans[t.key]), ranges_done=0, rows=0, bytes=0)
        # Counted in ranges, an exact total (a table's size on disk is not what COPY sends: a bar in bytes would
        # end far from its total); the finished table's line gives its bytes and rate.
        progress.add(t.display, len(plans[t.key]), unit="ranges")

    def on_unit(result: copier.UnitResult) -> None:
        nonlocal units_done
        table = result.unit.table
        with lock:
            began = time.monotonic() - result.seconds
            total = totals.setdefault(table.key, _TableTotals(began))
            total.rows += result.rows
            total.bytes += result.bytes
            total.began = min(total.began, began)
            total.ranges_done += 1
            finished = total.ranges_done == result.unit.count
            seconds = round(time.monotonic() - total.began, 3)
            units_done += 1
        if finished:
            state.table(table.key, status="done", rows=total.rows, bytes=total.bytes, seconds=seconds,
                        ranges_done=total.ranges_done)  # fmt: skip
            report.tables.append(
                TableReport(table.display, table.schema, table.name, total.rows, total.bytes, seconds,
                            total.ranges_done)
            )  # fmt: skip
            progress.finish(table.display, total.rows, total.bytes, seconds)
            post.table_loaded(table.key)
        else:
            state.table(table.key, ranges_done=total.ranges_done)
        progress.advance(table.display, 1)
        after_unit(units_done)

    try:
        copier.copy_units(src, dst, snap, units, jobs, lambda unit, sent: None, on_unit)
        report.tables.sort(key=lambda t: (t.schema, t.name))
        state.update(phase=Phase.LARGE_OBJECTS)
        batches = 0

        def on_batch(oid: int) -> None:
            nonlocal batches
            state.update(large_objects_done=oid)
            batches += 1
            after_large_object_batch(batches)

        copied = largeobjects.copy(src, dst, snap, st.large_objects_done, on_batch)
        report.large_objects, report.large_object_bytes = copied.objects, copied.bytes
        if copied.objects:
            progress.log(f"copied {copied.objects} large objects, {iec(copied.bytes)}")
        state.update(phase=Phase.POST_DATA)
        progress.log("data copied; remaining indexes, constraints, foreign keys, triggers...")
        post.finish()
    finally:
        post.close()

    state.update(phase=Phase.SEQUENCES)
    with src.connect() as src_conn, dst.connect() as dst_conn:
        seqs = catalog.sequences(src_conn)
        catalog.set_sequences(dst_conn, seqs)
        # Last: a source setting such as default_transaction_read_only must not get in the copy's way.
        report.database_properties = dbprops.apply(dst_conn, dbprops.read(src_conn), dst.dbname)
        state.update(database_settings_done=True)
    report.sequences = len(seqs)
    state.update(phase=Phase.VERIFY)
    progress.log(f"copied {len(report.tables)} tables, {report.rows} rows, {iec(report.bytes)}")


@dataclass
class _TableTotals:
    """What the committed units of one table add up to so far."""

    began: float  # monotonic time the table's first unit started
    rows: int = 0
    bytes: int = 0
    ranges_done: int = 0


def _truncate_half_done(dst: DbEndpoint, tables: list[catalog.Table]) -> list[tuple[str, str, str]]:
    """Empty the tables to copy again. Foreign keys from or to them (already built when a verification
    failed, or a crash came during post-data) are dropped first, in the same transaction, so the tables
    load in any order; returns their pg_dump entry ids, to be built again with the rest of post-data."""
    if not tables:
        return []
    with dst.connect() as conn, conn.transaction():
        keys = conn.execute(
            """
            WITH t AS (
                SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN unnest(%s::text[], %s::text[]) AS u(schema, name) ON n.nspname = u.schema AND c.relname = u.name
            )
            SELECT n.nspname, c.relname, k.conname FROM pg_constraint k
            JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE k.contype = 'f' AND k.conparentid = 0
              AND (k.conrelid IN (SELECT oid FROM t) OR k.confrelid IN (SELECT oid FROM t))
            """,
            ([t.schema for t in tables], [t.name for t in tables]),
        ).fetchall()
        for schema_name, table, constraint in keys:
            conn.execute(
                sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
                    sql.Identifier(schema_name), sql.Identifier(table), sql.Identifier(constraint)
                )
            )
        conn.execute("TRUNCATE " + ", ".join(f"ONLY {t.qualified}" for t in tables))
    return [("FK CONSTRAINT", schema_name, f"{table} {constraint}") for schema_name, table, constraint in keys]


# -- verify, status, cutover, abort ---------------------------------------------------------------------


def verify_databases(src: DbEndpoint, dst: DbEndpoint, jobs: int = 4, state_dir: Path | None = None) -> VerifyReport:
    """After a cutover the source's database properties are compared as they were before it was closed."""
    recorded = load(state_dir or default_state_dir(src.identity, dst.identity), src.identity, dst.identity)
    properties = set(recorded.guard["properties"]) if recorded and recorded.guard.get("properties") else None
    with reach(src, dst):
        return verify(src, dst, jobs=jobs, source_properties=properties)


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
    problems: list[str] = field(default_factory=list)
    lag: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        return data


def status(src: DbEndpoint, dst: DbEndpoint, state_dir: Path | None = None) -> StatusReport:
    state = _state(src, dst, state_dir)
    report = StatusReport(src.display, dst.display, str(state.path), known=state.existed)
    if not state.existed:
        return report
    st = state.state
    report.problems = st.problems
    report.mode, report.phase, report.verified = st.mode, st.phase, st.verified
    report.tables_total = len(st.tables)
    report.tables_done = sum(1 for t in st.tables.values() if t.status == "done")
    report.rows = sum(t.rows for t in st.tables.values())
    report.bytes = sum(t.bytes for t in st.tables.values())
    if st.mode == "online" and st.phase == Phase.FOLLOWING:
        with reach(src, dst), src.connect() as src_conn, dst.connect() as dst_conn:
            names = st.replication
            report.lag = replication.lag(src_conn, names["slot"], dst_conn, names["subscription"]).to_json()
    return report


@dataclass
class CutoverReport:
    source: str
    target: str
    sessions_terminated: int = 0
    still_able_to_connect: list[str] = field(default_factory=list)  # login roles the guard cannot keep out
    sequences: int = 0
    cleaned_up: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verification: VerifyReport | None = None
    next_steps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verification is not None and self.verification.ok

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        data["verification"] = self.verification.to_json() if self.verification else None
        data["ok"] = self.ok
        return data


def cutover(
    src: DbEndpoint, dst: DbEndpoint, *, state_dir: Path | None = None, jobs: int = 4, timeout: float = 300.0,
    health_window: float = 15.0, show_progress: bool = True,
) -> CutoverReport:  # fmt: skip
    """Check replication is healthy, guard the source against writes, wait for zero lag, sync sequences,
    verify, drop replication. Anything failing once the guard is on takes the guard off again."""
    started = time.monotonic()
    with reach(src, dst), run_lock(dst):
        state = _state(src, dst, state_dir)
        st = state.state
        if not state.existed or st.mode != "online" or st.phase not in (Phase.FOLLOWING, Phase.CUTTING_OVER):
            raise InputError(
                f"no online copy from {src.display} to {dst.display} is following changes "
                f"(state {state.path}: {st.phase if state.existed else 'none'}); start one with `copy --online`"
            )
        progress = CopyProgress(show_progress)
        report = CutoverReport(src.display, dst.display)
        names = st.replication
        with src.connect() as src_conn, dst.connect() as dst_conn:
            _writable_session(src_conn)
            if st.phase == Phase.CUTTING_OVER and st.guard:
                progress.log("an earlier cutover stopped with the source guarded: giving writes back first...")
                _lift_guard(src_conn, state)
            progress.log("checking the subscription is enabled, its worker running and the lag falling...")
            try:
                replication.check_healthy(src_conn, dst_conn, names, min(health_window, timeout))
            except CheckFailed as unhealthy:
                raise CheckFailed(f"cutover refused, the source was not touched: {unhealthy}") from None
            record = guard.plan(src_conn, src.dbname)
            properties = dbprops.read(src_conn).items()  # as they are without the guard
            record["properties"] = sorted(properties)  # what later verifications compare the source as
            state.update(guard=record, phase=Phase.CUTTING_OVER)  # recorded before the first change
            cleaning = False
            try:
                progress.log(f"keeping every other session out of {src.dbname} on the source...")
                report.sessions_terminated = guard.apply(src_conn, record)
                report.still_able_to_connect = _can_still_connect(src_conn, src.dbname)
                progress.log("waiting for the target to apply every change...")
                replication.wait_caught_up(src_conn, names["slot"], timeout)
                seqs = catalog.sequences(src_conn)
                catalog.set_sequences(dst_conn, seqs)
                report.sequences = len(seqs)
                progress.log("final verification (replication still in place)...")
                report.verification = verify(src, dst, jobs=jobs, source_properties=properties)
                if not report.verification.ok:
                    raise CheckFailed("verification failed: " + "; ".join(report.verification.problems[:3]))
                cleaning = True
                report.cleaned_up = replication.cleanup(src_conn, dst_conn, names)
            except BaseException as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                try:
                    with src.connect() as fresh:  # ours may be what broke
                        _writable_session(fresh)
                        left = _lift_guard(fresh, state)
                except (psycopg.Error, OpcloudError) as undo_error:
                    raise CheckFailed(
                        f"cutover failed: {reason}; giving writes back to the source failed too "
                        f"({str(undo_error).strip().splitlines()[0]}): it stays closed; run `opcloud migrate db "
                        "abort` (the state file keeps what to undo)"
                    ) from None
                state.update(phase=Phase.FOLLOWING)
                undone = "writes restored exactly" if not left else f"writes restored, ACL differs: {'; '.join(left)}"
                after = (
                    "replication may be partly removed: run `opcloud migrate db abort` and copy again"
                    if cleaning
                    else "replication keeps following"
                )
                raise CheckFailed(
                    f"cutover failed: {reason}; the source {src.display} was made writable again ({undone}), {after}"
                ) from None
            state.update(phase=Phase.CUT_OVER, verified=True)
    report.next_steps = [
        f"point the applications at {dst.display}",
        f"the source {src.display} stays closed to every role but {src.user} and superusers (read-only by "
        "default for them); to open it again: "
        + "; ".join(s.as_string(None) for s in guard.undo_statements(state.state.guard)),
        "take a fresh backup of the target and enable its backups/WAL archiving before opening it to writes",
    ]
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _writable_session(conn: psycopg.Connection) -> None:
    """Our own session writes (guard, cleanup) even where the database defaults to read-only."""
    conn.execute("SET default_transaction_read_only = off")


def _lift_guard(conn: psycopg.Connection, state: StateFile) -> list[str]:
    left = guard.undo(conn, state.state.guard)
    state.update(guard={})
    return left


def _can_still_connect(conn: psycopg.Connection, dbname: str) -> list[str]:
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolcanlogin AND has_database_privilege(oid, %s, 'CONNECT') ORDER BY 1",
        (dbname,),
    ).fetchall()
    return [r[0] for r in rows]


def abort(src: DbEndpoint, dst: DbEndpoint, state_dir: Path | None = None) -> list[str]:
    """Give writes back to the source if a cutover left it guarded, drop an online copy's replication objects
    and its state; the target's data stays as it is."""
    with reach(src, dst), run_lock(dst):
        state = _state(src, dst, state_dir)
        names = state.state.replication or _replication_names(state)
        dropped: list[str] = []
        with src.connect() as src_conn, dst.connect() as dst_conn:
            _writable_session(src_conn)
            if state.state.guard and state.state.phase != Phase.CUT_OVER:
                left = _lift_guard(src_conn, state)
                dropped.append(
                    "write guard on the source (writes restored" + (f"; ACL differs: {left})" if left else ")")
                )
            dropped += replication.cleanup(src_conn, dst_conn, names)
        state.remove()
    return dropped


def ensure_ok(report: CopyReport | CutoverReport | VerifyReport) -> None:
    verification = report if isinstance(report, VerifyReport) else report.verification
    if verification is not None and not verification.ok:
        raise CheckFailed("verification failed: " + "; ".join(verification.problems[:5]))
