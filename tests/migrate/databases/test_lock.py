"""One run per target at a time, enforced on the target server: a second run (another machine: its own
state directory) stops with one line and touches nothing. And a read-only source for an online copy."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from opcloud.migrate.databases import dsn, lock
from typer.testing import CliRunner

from opcloud.cli import app
from tests.servers.postgres import PASSWORD, PgPair
from tests.servers.process import REPO_ROOT


def _lock_held(pair: PgPair) -> bool:
    with pair.dst() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return bool(row and row[0])


def test_two_concurrent_runs_of_one_pair(source_db: PgPair, tmp_path) -> None:
    pair = source_db
    argv = [sys.executable, "-c", "from opcloud.cli import main; main()", "migrate", "db", "copy",
            pair.source_dsn, pair.target_dsn, "--jobs", "2"]  # fmt: skip
    blocker = pair.src(autocommit=False)
    # The first run holds its lock and waits in pg_dump for this table lock, for as long as the test wants.
    blocker.execute("LOCK TABLE app.tenders IN ACCESS EXCLUSIVE MODE")
    first = subprocess.Popen(
        [*argv, "--state-dir", str(tmp_path / "one")], cwd=REPO_ROOT, env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            if _lock_held(pair) or first.poll() is not None:
                break
            time.sleep(0.05)
        assert _lock_held(pair), "the first run never took its lock"
        second = subprocess.run(
            [*argv, "--state-dir", str(tmp_path / "two")], cwd=REPO_ROOT, env=dict(os.environ),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 1, second.stderr
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "another `opcloud migrate db` run is working on" in lines[0], lines
        assert "server pid" in lines[0] and PASSWORD not in second.stderr
        assert not (tmp_path / "two").exists()  # no state written by the second run
        with pair.dst() as conn:  # and nothing on the target beyond what the first run did so far
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'app'").fetchone()[0] == 0
    finally:
        blocker.rollback()
        blocker.close()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert "verified" in out
    with pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM app.tenders").fetchone()[0] == 8000
    assert not _lock_held(pair)


def test_an_online_copy_from_a_read_only_source_is_one_line(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    with pair.src() as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO public.t SELECT g, 'v' FROM generate_series(1, 10) g")
        conn.execute(f"ALTER DATABASE {pair.source_db} SET default_transaction_read_only = on")
    runner = CliRunner()
    result = runner.invoke(
        app, ["migrate", "db", "copy", pair.source_dsn, pair.target_dsn, "--online", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is read-only" in lines[0] and "default_transaction_read_only" in lines[0], lines
    with pair.src() as conn:
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0
    with pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
    # An offline copy only reads the source: it works, and carries the setting with the rest.
    copied = runner.invoke(app, ["migrate", "db", "copy", pair.source_dsn, pair.target_dsn, "--state-dir",
                                 str(tmp_path)])  # fmt: skip
    assert copied.exit_code == 0, copied.output
    with pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM public.t").fetchone()[0] == 10


def test_the_lock_of_a_run_just_killed_is_waited_for(pg_pair: PgPair) -> None:
    # A killed run's server process may hold the lock a moment longer; the next run waits for it, not fails.
    pair = pg_pair
    dying = pair.dst()
    dying.execute("SELECT pg_advisory_lock(%s, %s)", (lock.LOCK_CLASS, lock.LOCK_ID))
    ender = threading.Timer(1.0, dying.close)
    ender.start()
    try:
        with lock.run_lock(dsn.parse(pair.target_dsn)):
            assert _lock_held(pair)
    finally:
        ender.join()
    assert not _lock_held(pair)
