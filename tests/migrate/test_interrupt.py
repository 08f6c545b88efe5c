"""Ctrl-C during a copy: it stops at once (not after the work in flight), says in one line what is kept and how
to resume, exits 130 with no traceback; running the same command again finishes the copy, verified."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.migrate.test_resume_kill import OPCLOUD

FILES = 120
SIZE = 64 * 1024


def _command(source: Path, target: Path, state: Path, *extra: str) -> list[str]:
    return [OPCLOUD, "migrate", "copy", f"file://{source}", f"file://{target}", "--state-dir", str(state),
            "--json", *extra]  # fmt: skip


def test_ctrl_c_stops_at_once_with_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    source, target, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    source.mkdir()
    target.mkdir()
    for i in range(FILES):
        (source / f"doc-{i:03d}.bin").write_bytes(bytes([i % 251]) * SIZE)
    # 7.5 MiB at 512 KiB/s: about 15 s of copying, interrupted once the first objects are there.
    slow = subprocess.Popen(_command(source, target, state, "--bwlimit", "512K", "--transfers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not any(target.glob("doc-*.bin")) and slow.poll() is None:
        time.sleep(0.05)
    slow.send_signal(signal.SIGINT)
    out, err = slow.communicate(timeout=120)
    assert slow.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: interrupted: ") and "run the same command again to resume" in lines[-1]
    assert "Traceback" not in err and out == ""
    assert len(list(target.glob("doc-*.bin"))) < FILES  # it did not wait for the rest of the work
    done = subprocess.run(_command(source, target, state), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["listed"] == FILES and report["failed"] == [], report
    assert sorted(p.read_bytes() == (source / p.name).read_bytes() for p in target.glob("doc-*.bin")) == [True] * FILES
