"""Stacks are found as the Pulumi CLI finds them: Pulumi.yaml in the working directory or above, its
stackConfigDir, `--cwd`; never the folder opcloud happens to be installed in."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opcloud.config.project import find_project
from opcloud.errors import InputError

ENTRY = [sys.executable, "-c", "from opcloud.cli import main; main()"]
SHIPPED = Path(__file__).resolve().parent.parent / "environments"


def _project(root: Path, config_dir: str | None = "stacks-config") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["name: procurement-infra", "runtime: python"]
    if config_dir is not None:
        lines.append(f"stackConfigDir: {config_dir}")
    (root / "Pulumi.yaml").write_text("\n".join(lines) + "\n")
    stacks = root / (config_dir or ".")
    stacks.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED / "Pulumi.rialto-prod.yaml", stacks / "Pulumi.rialto-copy.yaml")
    return root


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ENTRY, *argv], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_stacks_of_the_project_around_the_working_directory(tmp_path: Path) -> None:
    project = _project(tmp_path / "infra")
    below = project / "docs" / "deep"
    below.mkdir(parents=True)
    done = _run("stack", "list", "--json", cwd=below)
    assert done.returncode == 0, done.stderr
    assert [row["stack"] for row in json.loads(done.stdout)["stacks"]] == ["rialto-copy"]


def test_cwd_option_and_stack_config_dir_default(tmp_path: Path) -> None:
    project = _project(tmp_path / "flat", config_dir=None)  # no stackConfigDir: files beside Pulumi.yaml
    done = _run("--cwd", str(project), "stack", "list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [row["stack"] for row in json.loads(done.stdout)["stacks"]] == ["rialto-copy"]
    assert find_project(project).stacks_dir == project.resolve()


def test_no_project_is_one_input_error(tmp_path: Path) -> None:
    done = _run("stack", "synth", "rialto-prod", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Pulumi project here" in lines[0] and "--cwd" in lines[0]
    with pytest.raises(InputError, match="no Pulumi project"):
        find_project(tmp_path)


def test_usage_errors_are_one_line_too(tmp_path: Path) -> None:
    for argv in (["stack", "synth"], ["stack", "synth", "rialto-prod", "--bogus"], ["--cwd", str(tmp_path / "x")]):
        done = _run(*argv, cwd=tmp_path)
        assert done.returncode == 2, argv
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "--help" in lines[0], done.stderr
        assert "╭" not in done.stderr


def test_a_group_alone_prints_its_help(tmp_path: Path) -> None:
    done = _run("stack", cwd=tmp_path)
    assert done.returncode == 0 and "synth" in done.stdout and done.stderr == ""
