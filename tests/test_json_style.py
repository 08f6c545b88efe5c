"""Every `--json` uses one key style, camelCase (as Pulumi's own JSON). Keys that are data (resource inputs,
tags, metadata, file paths, part names) are left as they are and skipped here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opcloud.cli import app

CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# Keys under which the keys are data, not names opcloud chose.
DATA = {"inputs", "outputs", "tags", "metadata", "headers", "byProvider", "properties"}
EXAMPLE_PLAN = Path(__file__).resolve().parent.parent / "environments" / "migrations" / "prozorro-ua-aws-to-denovo.yaml"


def off_style(value: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not CAMEL.match(key):
                found.append(f"{path}/{key}")
            if key not in DATA:
                found += off_style(item, f"{path}/{key}")
    elif isinstance(value, list):
        for item in value:
            found += off_style(item, f"{path}[]")
    return found


def _json(*argv: str) -> Any:
    result = CliRunner().invoke(app, list(argv))
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    root = tmp_path_factory.mktemp("json")
    (root / "src" / "a").mkdir(parents=True)
    (root / "dst").mkdir()
    (root / "src" / "a" / "doc.txt").write_text("text")
    source, target, state = f"file://{root / 'src'}", f"file://{root / 'dst'}", str(root / "state")
    _json("migrate", "copy", source, target, "--state-dir", state, "--json", "--no-progress")
    return source, target, state


COMMANDS = {
    "stack list": ["stack", "list", "--json"],
    "stack synth": ["stack", "synth", "rialto-prod", "--json"],
    "stack diff": ["stack", "diff", "prozorro-ua-prod", "prozorro-ua-staging", "--json"],
    "stack check": ["stack", "check", "prozorro-ua-prod", "--json"],
    "migrate plan --offline": ["migrate", "plan", str(EXAMPLE_PLAN), "--offline", "--json"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_stack_and_plan_json_is_camel_case(name: str) -> None:
    assert off_style(_json(*COMMANDS[name])) == []


def test_bucket_json_is_camel_case(copied: tuple[str, str, str]) -> None:
    source, target, state = copied
    for argv in (
        ["migrate", "copy", source, target, "--state-dir", state, "--json", "--no-progress"],
        ["migrate", "verify", source, target, "--state-dir", state, "--json", "--no-progress"],
        ["migrate", "status", source, target, "--state-dir", state, "--json"],
    ):
        assert off_style(_json(*argv)) == [], argv
