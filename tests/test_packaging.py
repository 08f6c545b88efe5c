"""Installed from a wheel (not editable), opcloud adds one import name and works in any Pulumi project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_of_the_tree_is_listed() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    found = set()
    for name, folder in setuptools["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *parts)))
    assert sorted(found) == sorted(setuptools["packages"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return next(out.glob("opcloud-*.whl"))


def test_the_wheel_holds_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"opcloud"}


def test_a_wheel_install_lists_the_stacks_of_the_project_it_runs_in(wheel: Path, tmp_path: Path) -> None:
    # A fresh environment: the wheel's files, and this venv's dependencies (not its editable opcloud: a path
    # added by a .pth line gets no .pth processing of its own, so the editable finder is not loaded).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    project = tmp_path / "project"
    (project / "envs").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: my-infra\nruntime: python\nstackConfigDir: envs\n")
    shutil.copy(REPO / "environments" / "Pulumi.rialto-prod.yaml", project / "envs" / "Pulumi.mine.yaml")
    python = venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import opcloud; print(opcloud.__file__)"], capture_output=True,
                           text=True, cwd=project, check=True)  # fmt: skip
    assert where.stdout.startswith(str(site))
    done = subprocess.run([str(python), "-c", "from opcloud.cli import main; main()", "stack", "list", "--json"],
                          capture_output=True, text=True, cwd=project, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [row["stack"] for row in json.loads(done.stdout)["stacks"]] == ["mine"]
