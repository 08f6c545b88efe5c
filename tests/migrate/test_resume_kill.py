"""kill -9 of a running copy at several points, then the same command again: it resumes, and the result is
identical to an uninterrupted copy (read back and compared by SHA-256)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.state import state_path
from opcloud.migrate.stores.url import parse

from tests.migrate.conftest import NewUrl
from tests.migrate.data import MIB, dataset, expected, fill, same_content, snapshot

OPCLOUD = str(Path(sys.executable).parent / "opcloud")


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


def _copy_cmd(source: str, target: str, state: Path, *extra: str) -> list[str]:
    return [
        OPCLOUD,
        "migrate",
        "copy",
        source,
        target,
        "--state-dir",
        str(state),
        "--part-size",
        "5M",
        "--no-progress",
        "--json",
        "--transfers",
        "2",
        *extra,
    ]


def _kill_when(cmd: list[str], ready: Callable[[], bool]) -> None:
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, f"copy ended before the kill point: {process.stderr.read()!r}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


POINTS = {
    # after some small objects were recorded, before the large one started
    "between-objects": "SELECT COUNT(*) >= 2 FROM objects",
    # inside the multipart upload of the large object: parts sent, upload not complete
    "inside-multipart": "SELECT COUNT(*) >= 1 FROM parts",
    # near the end: most objects copied, verification of others still running
    "near-the-end": "SELECT COUNT(*) >= 12 FROM objects",
}


@pytest.mark.parametrize(
    ("point", "src", "dst"),
    [
        ("between-objects", "s3", "sftp"),
        ("inside-multipart", "s3", "az"),
        ("inside-multipart", "s3", "s3"),
        ("near-the-end", "s3", "file"),
        # Two local trees: small files on the fast path (treecopy.py), the large one in parts on the general path.
        ("inside-multipart", "file", "file"),
        ("near-the-end", "file", "file"),
    ],
)
def test_kill_then_rerun_resumes_to_an_identical_copy(
    point: str, src: str, dst: str, new_url: NewUrl, tmp_path: Path
) -> None:
    objects = dataset(large=12 * MIB)
    source, target = new_url(src), new_url(dst)
    fill(source, objects)
    state = tmp_path / "state"
    db = state_path(state, parse(source).redacted(), parse(target).redacted())
    # Throttled so that the kill lands where we want it; the rerun goes at full speed.
    # S3 to the same S3 would copy server-side: force streaming so that the multipart upload is exercised.
    extra = ["--no-server-side"] if dst == "s3" else []
    _kill_when(_copy_cmd(source, target, state, "--bwlimit", "4M", *extra), lambda: _count(db, POINTS[point]) == 1)
    rerun = subprocess.run(_copy_cmd(source, target, state, *extra), capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["ok"] and not report["failed"]
    if point == "inside-multipart":
        assert report["resumedParts"] >= 1  # parts sent before the kill were not sent again
    assert same_content(snapshot(target), expected(objects))
    assert engine.verify(source, target, state, progress=False).ok
    assert _count(db, "SELECT COUNT(*) FROM uploads") == 0
