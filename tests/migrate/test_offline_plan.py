"""`migrate plan --offline`: the plan's own checks with no credentials and no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ENTRY = [sys.executable, "-c", "from opcloud.cli import main; main()"]
EXAMPLE = Path(__file__).resolve().parents[2] / "environments" / "migrations" / "prozorro-ua-aws-to-denovo.yaml"


def _offline(plan: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # No credentials of any kind and a proxy that goes nowhere: a store contacted would fail loudly.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9"}  # fmt: skip
    return subprocess.run([*ENTRY, "migrate", "plan", str(plan), "--offline", "--json"], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def test_the_shipped_example_is_checked_without_credentials(tmp_path: Path) -> None:
    done = _offline(EXAMPLE, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["jurisdiction"] == "UA"
    countries = {pair["name"]: pair["report"]["targetCountry"] for pair in report["pairs"] if pair["kind"] == "buckets"}
    assert countries and set(countries.values()) == {"UA"}


def test_a_target_abroad_and_overlapping_targets_are_named(tmp_path: Path) -> None:
    plan = yaml.safe_load(EXAMPLE.read_text())
    first = plan["buckets"][0]
    plan["buckets"] = [
        {**first, "name": "abroad", "target": "s3://archive/docs/?region=eu-west-1"},
        {**first, "name": "one", "target": "s3://prozorro-documents/a/?endpoint=https://s3.kyiv.denovo.ua"},
        {**first, "name": "two", "target": "s3://prozorro-documents/a/b/?endpoint=https://s3.kyiv.denovo.ua"},
    ]
    plan.pop("databases", None)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    done = _offline(path, tmp_path)
    assert done.returncode == 1, done.stderr
    problems = {pair["name"]: pair["report"]["problems"] for pair in json.loads(done.stdout)["pairs"]}
    assert problems["abroad"] == ["the target lies in IE, outside the jurisdiction UA"]
    assert problems["one"] == []
    assert problems["two"] == ["writes where buckets.one writes"]


def test_status_of_a_one_off_copy_from_any_folder(tmp_path: Path) -> None:
    source, target, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    source.mkdir()
    target.mkdir()
    (source / "a.txt").write_text("a")
    copy = [*ENTRY, "migrate", "copy", f"file://{source}", f"file://{target}", "--state-dir", str(state),
            "--no-progress"]  # fmt: skip
    assert subprocess.run(copy, capture_output=True, timeout=120).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    status = [*ENTRY, "migrate", "status", f"file://{source}", f"file://{target}", "--state-dir", str(state), "--json"]
    done = subprocess.run(status, capture_output=True, text=True, cwd=elsewhere, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"state": None} == {
        "ok": True, "state": None, "objects": 1, "verified": 1, "bytes": 1, "uploadsInFlight": 0,
    }  # fmt: skip
    other = subprocess.run([*status[:6], f"file://{tmp_path}/none", *status[7:]], capture_output=True, text=True,
                           cwd=elsewhere, timeout=120)  # fmt: skip
    assert other.returncode == 1 and json.loads(other.stdout)["state"] is None


def test_one_state_home_whatever_the_folder(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    (source / "a.txt").write_text("a")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    copy = [*ENTRY, "migrate", "copy", f"file://{source}", f"file://{target}", "--no-progress"]
    assert subprocess.run(copy, capture_output=True, cwd=here, env=env, timeout=120).returncode == 0
    assert list((tmp_path / "xdg" / "opcloud" / "migrate").glob("buckets-*.sqlite"))
    status = [*ENTRY, "migrate", "status", f"file://{source}", f"file://{target}", "--json"]
    done = subprocess.run(status, capture_output=True, text=True, cwd=there, env=env, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["verified"] == 1, done.stderr
