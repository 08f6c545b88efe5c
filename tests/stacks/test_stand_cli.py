"""`opcloud stand` through CliRunner: error paths without Pulumi or Azure, reap decisions, CI files."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from opcloud.stand import automation as stand_automation
from opcloud.stand.lifecycle import Stand
from typer.testing import CliRunner

from opcloud.cli import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github/workflows/test-stand.yml"
JENKINSFILES = sorted((ROOT / "ci").glob("Jenkinsfile*"))
runner = CliRunner()
ARM = ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID", "ARM_CLIENT_SECRET", "ARM_USE_OIDC", "ARM_USE_MSI")


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def no_pulumi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.fixture
def fake_pulumi_no_azure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A `pulumi` on PATH (never run: preflight stops first), no `az`, no ARM_* variables."""
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\nexit 99\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    for key in ARM:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize(
    "args",
    [["stand", "up", "--name", "alice"], ["stand", "down", "alice"], ["stand", "list"], ["stand", "reap"]],
)
def test_without_pulumi_cli_one_line_and_exit_2(no_pulumi: None, args: list[str]) -> None:
    code, stdout, stderr = _invoke(*args)
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert "Pulumi CLI is not installed" in stderr
    assert "get.pulumi.com" in stderr and "synth" in stderr


@pytest.mark.parametrize("args", [["stand", "up", "--name", "alice"], ["stand", "down", "alice"]])
def test_without_azure_credentials_one_line_and_exit_2(fake_pulumi_no_azure: None, args: list[str]) -> None:
    code, _, stderr = _invoke(*args)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "no Azure credentials" in stderr and "az login" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stand", "up", "--ttl", "8x"], "bad TTL"),
        (["stand", "up", "--ttl", "30d"], "out of range"),
        (["stand", "up", "--name", "Not_DNS"], "not DNS-safe"),
        (["stand", "up", "--name", "a" * 21], "longer than 20"),
        (["stand", "down", "bad--name"], "not DNS-safe"),
    ],
)
def test_bad_input_exits_2_before_anything_runs(no_pulumi: None, args: list[str], message: str) -> None:
    code, _, stderr = _invoke(*args)
    assert code == 2
    assert message in stderr
    assert "Pulumi CLI" not in stderr  # input is checked before tools


NOW = datetime.now(UTC)
STANDS = [
    Stand("old", "alice", NOW - timedelta(hours=2), "https://old/", "rg-ts-old"),
    Stand("fresh", "bob", NOW + timedelta(hours=2), "https://fresh/", "rg-ts-fresh"),
    Stand("lost", None, None),
]


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    destroyed: list[str] = []
    monkeypatch.setattr(stand_automation, "list_stands", lambda: list(STANDS))

    def down(stand: str, on_output: Any) -> dict[str, Any]:
        destroyed.append(stand)
        return {"name": stand}

    monkeypatch.setattr(stand_automation, "down", down)
    return destroyed


def test_reap_destroys_only_expired_stands(fake_backend: list[str]) -> None:
    code, stdout, _ = _invoke("stand", "reap", "--json")
    assert code == 0
    report = json.loads(stdout)
    assert fake_backend == ["old"]
    assert report["destroyed"] == ["old"]
    assert report["unknownExpiry"] == ["lost"]
    assert [s["name"] for s in report["expired"]] == ["old"]


def test_reap_dry_run_destroys_nothing(fake_backend: list[str]) -> None:
    code, stdout, _ = _invoke("stand", "reap", "--dry-run", "--json")
    assert code == 0
    assert fake_backend == []
    assert json.loads(stdout)["dryRun"] is True


def test_reap_failure_exits_1_and_names_the_stand(monkeypatch: pytest.MonkeyPatch) -> None:
    from opcloud.errors import CheckFailed

    monkeypatch.setattr(stand_automation, "list_stands", lambda: list(STANDS))

    def down(stand: str, on_output: Any) -> None:
        raise CheckFailed(f"pulumi destroy of stand {stand} failed: boom")

    monkeypatch.setattr(stand_automation, "down", down)
    code, _, stderr = _invoke("stand", "reap")
    assert code == 1
    assert "old" in stderr


def test_list_json(fake_backend: list[str]) -> None:
    code, stdout, _ = _invoke("stand", "list", "--json")
    assert code == 0
    stands = {s["name"]: s for s in json.loads(stdout)["stands"]}
    assert stands["old"]["expired"] is True and stands["fresh"]["expired"] is False
    assert stands["lost"]["expiry"] is None


# ------------------------------------------------------------------------------------ CI definitions


def _opcloud_calls(script: str) -> list[list[str]]:
    """Every `opcloud ...` invocation in a shell script, as argv after `opcloud` (stops at pipes/redirects)."""
    calls = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for index, token in enumerate(tokens):
            if token == "opcloud" or token.endswith("/opcloud"):
                argv = []
                for word in tokens[index + 1 :]:
                    if word and set(word) <= set("|&;<>()"):
                        break
                    argv.append(word)
                calls.append(argv)
    return calls


def _workflow_scripts() -> list[str]:
    document = yaml.safe_load(WORKFLOW.read_text())
    return [step["run"] for job in document["jobs"].values() for step in job["steps"] if "run" in step]


def _jenkins_scripts() -> list[str]:
    scripts = []
    for path in JENKINSFILES:
        scripts += re.findall(r"sh\s+'([^']*)'", path.read_text())
    return scripts


def _check_call(argv: list[str]) -> None:
    """The command path exists and each --option it passes is one the command accepts."""
    words = [a for a in argv if not a.startswith("-")]
    options = [a.split("=")[0] for a in argv if a.startswith("--")]
    # Walk groups: `stand up` etc.; positional values (stand names) come after the command path.
    path = words[:2]
    code, help_text, stderr = _invoke(*path, "--help")
    assert code == 0, (argv, stderr)
    for option in options:
        assert option in help_text, (argv, option)


def test_workflow_is_valid_yaml_and_calls_existing_commands() -> None:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert set(document["jobs"]) == {"acceptance", "reap"}
    calls = [c for script in _workflow_scripts() for c in _opcloud_calls(script)]
    assert {tuple(c[:2]) for c in calls} == {("stand", "up"), ("stand", "down"), ("stand", "reap")}
    for call in calls:
        _check_call(call)


def test_workflow_tears_down_even_when_suites_fail() -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["acceptance"]["steps"]
    names = [s.get("name") for s in steps]
    down = steps[names.index("Stand down")]
    assert down["if"] == "always()"
    assert "opcloud stand down" in down["run"]
    assert names.index("Stand up") < names.index("Acceptance suites") < names.index("Stand down")
    assert "--json" in steps[names.index("Stand up")]["run"]


def test_jenkinsfiles_call_existing_commands_and_tear_down_in_post_always() -> None:
    assert JENKINSFILES
    calls = [c for script in _jenkins_scripts() for c in _opcloud_calls(script)]
    assert {tuple(c[:2]) for c in calls} == {("stand", "up"), ("stand", "down"), ("stand", "reap")}
    for call in calls:
        _check_call(call)
    pipeline = (ROOT / "ci/Jenkinsfile.test-stand").read_text()
    post = pipeline[pipeline.index("post {") :]
    assert re.search(r"always\s*\{\s*sh\s+'[^']*opcloud stand down", post)


def test_call_checker_rejects_unknown_commands_and_options() -> None:
    with pytest.raises(AssertionError):
        _check_call(["stand", "destroy-everything"])
    with pytest.raises(AssertionError):
        _check_call(["stand", "up", "--colour"])
