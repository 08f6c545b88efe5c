"""The `opcloud` entry point as a user runs it, in its own process: it skips heap teardown at exit, so these
check that exit codes, stdout through a pipe and error lines still come out whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ENTRY = [sys.executable, "-c", "from opcloud.cli import main; main()"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ENTRY, *argv], capture_output=True, text=True, timeout=120)


def test_json_report_through_a_pipe_is_complete_and_exit_is_zero(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    for i in range(300):  # a report long enough to need more than one pipe buffer if it were unflushed
        (source / f"d{i % 7}").mkdir(parents=True, exist_ok=True)
        (source / f"d{i % 7}" / f"file-{i:04d}.txt").write_text(f"content {i}\n" * 50)
    target.mkdir()
    done = run(
        "migrate",
        "copy",
        f"file://{source}",
        f"file://{target}",
        "--json",
        "--no-progress",
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["copied"] == 300 and report["verified"] == 300
    assert report["verifiedOnWrite"] == 300  # a tree hashes what it writes: no read-back unless --read-back


def test_bad_input_exits_2_with_one_error_line(tmp_path: Path) -> None:
    done = run("migrate", "copy", "nope://x/y", f"file://{tmp_path}", "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0]
    assert not (tmp_path / "state").exists()


def test_failed_copy_exits_1(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    (source / "a").write_text("a file where the target has a directory")
    (target / "a").mkdir(parents=True)
    (target / "a" / "inner.txt").write_text("in the way")
    done = run(
        "migrate", "copy", f"file://{source}", f"file://{target}", "--json", "--no-progress",
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and [failure["key"] for failure in report["failed"]] == ["a"]


def test_opcloud_alone_prints_help_and_succeeds() -> None:
    done = run()
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "migrate" in done.stdout and "stack" in done.stdout


def _complete(words: str) -> list[str]:
    env = {**os.environ, "_OPCLOUD_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}  # fmt: skip
    # The installed console script, as a shell calls it: the completion variable is named after the program.
    done = subprocess.run([str(Path(sys.executable).parent / "opcloud")], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_shell_completion_works_from_the_root() -> None:
    assert _complete("opcloud mi") == ["migrate"]
    assert set(_complete("opcloud migrate db c")) == {"copy", "cutover"}
    assert "prozorro-ua-prod" in _complete("opcloud stack synth prozorro-ua")
    shown = run("--show-completion", "bash")
    assert shown.returncode == 0 and "_OPCLOUD_COMPLETE=complete_bash" in shown.stdout


def test_only_the_root_offers_to_install_completion() -> None:
    assert "--install-completion" in run("--help").stdout
    for group in ("stack", "migrate", "hosts", "stand"):
        assert "--install-completion" not in run(group, "--help").stdout, group
