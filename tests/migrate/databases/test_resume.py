"""A copy killed midway (SIGKILL, no cleanup) resumes: done tables are kept, half-done ones redone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from opcloud.migrate.databases import catalog, dsn, engine
from opcloud.migrate.databases.copy import plan_units
from opcloud.migrate.databases.state import load

from tests.servers.postgres import PASSWORD, PgPair
from tests.servers.process import REPO_ROOT


def killed_after(hook: str, count: int) -> list[str]:
    """A `python -c` program that runs the CLI with the engine's `hook` set to SIGKILL the process once `count`
    units (or batches) are done: the hook is injected here, never read from the environment by the engine."""
    program = (
        f"import os, signal; import {engine.__name__} as engine; "
        f"engine.{hook} = lambda done: done >= {count} and os.kill(os.getpid(), signal.SIGKILL); "
        "from opcloud.cli import main; main()"
    )
    return [sys.executable, "-c", program]


def test_crash_midway_then_resume(source_db: PgPair, tmp_path) -> None:
    pair = source_db
    arguments = ["migrate", "db", "copy", pair.source_dsn, pair.target_dsn, "--jobs", "1", "--split-rows", "1000",
                 "--state-dir", str(tmp_path)]  # fmt: skip
    # Killed two ranges into the second table (tables go biggest first, one at a time with --jobs 1).
    with pair.src() as conn:
        first, second = catalog.tables(conn)[:2]
    assert len(plan_units(second, 1000, 1)) > 2
    kill_after = len(plan_units(first, 1000, 1)) + 2
    argv = [*killed_after("after_unit", kill_after), *arguments]
    crashed = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    state = load(tmp_path, src.identity, dst.identity)
    assert state is not None and state.schema_done and state.phase == "data"
    statuses = {key: t.status for key, t in state.tables.items()}
    assert statuses[first.key] == "done" and statuses[second.key] == "started"
    # Two of its ranges were committed on the target: the rerun must not duplicate them.
    assert state.tables[second.key].ranges_done == 2
    with pair.dst() as conn:
        assert (
            conn.execute("SELECT count(*) FROM app.bids").fetchone()[0] > 0
            or conn.execute("SELECT count(*) FROM app.tenders").fetchone()[0] > 0
        )

    report = engine.copy_database(src, dst, jobs=2, split_rows=1000, state_dir=tmp_path, show_progress=False)
    assert report.resumed
    resumed = {t.table for t in report.tables if t.resumed}
    assert resumed == {first.display}
    assert report.verification is not None and report.verification.ok, report.verification.problems
    with pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM app.tenders").fetchone()[0] == 8000
        assert conn.execute("SELECT count(*) FROM app.bids").fetchone()[0] == 16000
    assert PASSWORD not in json.dumps(load(tmp_path, src.identity, dst.identity).to_json())
