"""Database pairs of a migration plan: plan (dry run), run, verify and status, as the plan runner calls them.

Each action takes (plan, pair, progress) and returns a JSON-ready dict with `kind` and `ok`; the state of
a pair lives under the plan's state directory, in `databases/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opcloud.migrate.databases import catalog, dsn, engine, state
from opcloud.migrate.databases.dsn import DbEndpoint
from opcloud.migrate.databases.plan import DatabasePair
from opcloud.migrate.databases.state import FINISHED, Phase
from opcloud.migrate.databases.tunnel import reach


def state_dir(plan: Any) -> Path:
    return Path(plan.state_dir) / "databases"


def _phase(plan: Any, src: DbEndpoint, dst: DbEndpoint) -> Phase | None:
    """The recorded phase of this pair's copy, None before any (read from the state file: no connection)."""
    recorded = state.load(state_dir(plan), src.identity, dst.identity)
    return recorded.phase if recorded else None


def plan_pair(plan: Any, pair: DatabasePair, progress: bool) -> dict[str, Any]:
    """Connect to both ends and run every pre-copy check; write nothing."""
    src, dst = dsn.parse(pair.source), dsn.parse(pair.target)
    phase = _phase(plan, src, dst)
    with reach(src, dst), src.connect() as src_conn, dst.connect() as dst_conn:
        resuming = phase not in (Phase.NEW, None)
        warnings = (
            [] if resuming else engine.preflight(src, dst, src_conn, dst_conn, online=pair.online, resuming=False)
        )
        tables = catalog.tables(src_conn)
    return {
        "kind": "db-plan",
        "ok": True,
        "source": src.display,
        "target": dst.display,
        "mode": "online" if pair.online else "offline",
        "jobs": pair.jobs,
        "tables": len(tables),
        "rows_estimate": sum(t.rows_estimate for t in tables),
        "bytes_estimate": sum(t.size_bytes for t in tables),
        "phase": phase,
        "warnings": warnings,
    }


def run_pair(plan: Any, pair: DatabasePair, progress: bool) -> dict[str, Any]:
    """Copy (or resume); a pair already copied reports its status instead of copying again."""
    src, dst = dsn.parse(pair.source), dsn.parse(pair.target)
    if _phase(plan, src, dst) in FINISHED:
        return status_pair(plan, pair, progress)
    report = engine.copy_database(
        src, dst, online=pair.online, jobs=pair.jobs, split_rows=pair.split_rows, state_dir=state_dir(plan),
        run_verify=pair.verify, show_progress=progress,
    )  # fmt: skip
    return {"kind": "db-copy", **report.to_json()}


def verify_pair(plan: Any, pair: DatabasePair, progress: bool) -> dict[str, Any]:
    report = engine.verify_databases(
        dsn.parse(pair.source), dsn.parse(pair.target), jobs=pair.jobs, state_dir=state_dir(plan)
    )
    return {"kind": "db-verify", **report.to_json()}


def status_pair(plan: Any, pair: DatabasePair, progress: bool) -> dict[str, Any]:
    report = engine.status(dsn.parse(pair.source), dsn.parse(pair.target), state_dir(plan))
    ok = report.phase == Phase.FOLLOWING or (report.phase in (Phase.DONE, Phase.CUT_OVER) and report.verified is True)
    return {"kind": "db-status", "ok": ok, **report.to_json()}
