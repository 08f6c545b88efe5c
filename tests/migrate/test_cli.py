"""The `opcloud migrate` commands: bad input is one line and exit 2 with nothing written; reports as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opcloud.migrate.plan import load_plan
from typer.testing import CliRunner

from opcloud.cli import app
from tests.migrate.conftest import NewUrl, sftp_url
from tests.migrate.data import dataset, fill
from tests.servers.azurite import AzuriteServer
from tests.servers.process import free_port, keygen
from tests.servers.s3 import S3Server
from tests.servers.sshd import SshServer

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["migrate", *args])
    return result.exit_code, result.stdout, result.stderr


def assert_input_error(args: list[str], state: Path, *, contains: str) -> str:
    code, out, err = invoke(*args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert contains in lines[0]
    assert "Traceback" not in err + out
    assert not state.exists()  # nothing written
    return lines[0]


def test_unknown_scheme_and_unknown_parameter(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert_input_error(
        ["copy", "ftp://x/y", "file:///tmp", "--state-dir", str(state)], state, contains="unknown store scheme"
    )
    line = assert_input_error(
        ["copy", "s3://b/?secret_key=AKIASECRET", "file:///tmp", "--state-dir", str(state)],
        state,
        contains="unknown parameter",
    )
    assert "AKIASECRET" not in line
    line = assert_input_error(
        ["copy", "sftp://u:hunter2@h/x", "file:///tmp", "--state-dir", str(state)], state, contains="password"
    )
    assert "hunter2" not in line


def test_missing_bucket_container_and_directory(s3_server: S3Server, azurite: AzuriteServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    target = f"file://{tmp_path}"
    assert_input_error(
        ["copy", s3_server.url("no-such-bucket"), target, "--state-dir", str(state)], state, contains="does not exist"
    )
    assert_input_error(
        ["copy", "az://no-such-container/", target, "--state-dir", str(state)], state, contains="does not exist"
    )
    assert_input_error(
        ["copy", f"file://{tmp_path}/nope", target, "--state-dir", str(state)], state, contains="does not exist"
    )


def test_wrong_credentials_and_unreachable_endpoint(
    azurite: AzuriteServer, azure_container: str, sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    target = f"file://{tmp_path}"
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=AAAA")
    monkeypatch.setenv("WRONG_AZ", wrong)
    line = assert_input_error(
        ["copy", f"az://{azure_container}/?connection_env=WRONG_AZ", target, "--state-dir", str(state)],
        state,
        contains="refused",
    )
    assert "AccountKey" not in line and "AAAA" not in line
    other_key = tmp_path / "other_key"
    keygen(other_key)
    bad_key = sftp_url(sshd, sshd.home).replace(str(sshd.client_key), str(other_key))
    assert_input_error(["copy", bad_key, target, "--state-dir", str(state)], state, contains="authentication")
    unknown_host = sftp_url(sshd, sshd.home).replace(str(sshd.known_hosts), str(tmp_path / "empty_known_hosts"))
    (tmp_path / "empty_known_hosts").write_text("")
    assert_input_error(
        ["copy", unknown_host, target, "--state-dir", str(state)], state, contains="never accepted blindly"
    )
    dead = f"s3://bucket/?endpoint=http://127.0.0.1:{free_port()}&region=us-east-1"
    assert_input_error(["copy", dead, target, "--state-dir", str(state)], state, contains="cannot reach")


def test_bad_plans_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    state = tmp_path / "xdg"  # the state home: nothing may be written there
    bad = {
        "malformed.yaml": ("name: [unclosed\n", "malformed YAML"),
        "unknown.yaml": ("name: p\nbuckets: []\ncolour: red\n", "colour: unknown key"),
        "pairkey.yaml": (
            "name: p\nbuckets:\n  - {name: a, source: 'file:///a', target: 'file:///b', speed: 3}\n",
            "speed",
        ),
        "scheme.yaml": ("name: p\nbuckets:\n  - {name: a, source: 'gopher://a', target: 'file:///b'}\n", "scheme"),
    }
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text(text)
        assert_input_error(["run", str(tmp_path / name)], state, contains=message)


def test_residency_refuses_a_target_outside_the_jurisdiction_before_copying(
    new_url: NewUrl, azurite: AzuriteServer, azure_container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    source = new_url("file")
    fill(source, dataset(large=1024))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"name: p\njurisdiction: UA\nbuckets:\n  - name: docs\n    source: '{source}'\n"
        f"    target: 'az://{azure_container}/?region=westeurope'\n"
    )
    line = assert_input_error(["run", str(plan)], tmp_path / "xdg", contains="outside the jurisdiction UA")
    assert "NL" in line
    assert list(azurite.service().get_container_client(azure_container).list_blobs()) == []
    plan.write_text(plan.read_text().replace("?region=westeurope", ""))  # a loopback endpoint: location unknown
    assert_input_error(["run", str(plan)], tmp_path / "xdg", contains="cannot tell where")


def test_copy_json_report_and_exit_codes(new_url: NewUrl, tmp_path: Path) -> None:
    source, target = new_url("s3"), new_url("az")
    fill(source, dataset(large=1024))
    state = str(tmp_path / "state")
    code, out, _ = invoke("copy", source, target, "--state-dir", state, "--json", "--dry-run")
    assert code == 0 and json.loads(out)["copied"] == 14 and not Path(state).exists()
    code, out, _ = invoke("copy", source, target, "--state-dir", state, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["copied"] == report["verified"] == 14
    assert set(report) >= {
        "listed",
        "copiedBytes",
        "unchanged",
        "failed",
        "refused",
        "carried",
        "notCarried",
        "metadataKeysMapped",
        "seconds",
    }
    code, out, _ = invoke("verify", source, target, "--state-dir", state, "--json")
    assert code == 0 and json.loads(out)["verified"] == 14
    # A key that a file tree cannot hold is reported and makes the copy fail (exit 1), never silently dropped.
    fill(source, {"bad//key": (b"x", None, {})})
    code, out, _ = invoke("copy", source, new_url("file"), "--state-dir", state, "--json")
    report = json.loads(out)
    assert code == 1 and [s["key"] for s in report["refused"]] == ["bad//key"]


def test_plan_run_status_verify(new_url: NewUrl, tmp_path: Path) -> None:
    source, target, target2 = new_url("s3"), new_url("sftp"), new_url("file")
    fill(source, dataset(large=1024))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: move\njurisdiction: UA\nstate_dir: st\ntransfers: 4\nbuckets:\n"
        f"  - {{name: docs, source: '{source}', target: '{target}&country=UA'}}\n"
        f"  - {{name: sigs, source: '{source}', target: '{target2}?country=UA', include: ['tenders/*']}}\n"
    )
    code, out, _ = invoke("plan", str(plan), "--json")
    assert code == 0 and [p["report"]["copied"] for p in json.loads(out)["pairs"]] == [14, 2]
    code, out, _ = invoke("status", str(plan), "--json")
    assert code == 1 and json.loads(out)["pairs"][0]["report"]["objects"] == 0
    code, out, _ = invoke("run", str(plan), "--json")
    assert code == 0 and json.loads(out)["ok"]
    code, out, _ = invoke("status", str(plan), "--json")
    assert code == 0 and [p["report"]["verified"] for p in json.loads(out)["pairs"]] == [14, 2]
    code, out, _ = invoke("verify", str(plan), "--json")
    assert code == 0 and [p["report"]["verified"] for p in json.loads(out)["pairs"]] == [14, 2]  # include honoured
    (Path(target2.removeprefix("file://").split("?")[0]) / "tenders" / "UA-2024-01-01-000001-a" / "bid.pdf").unlink()
    code, out, _ = invoke("verify", str(plan), "--json")
    assert code == 1 and json.loads(out)["pairs"][1]["report"]["missing"] == ["tenders/UA-2024-01-01-000001-a/bid.pdf"]


def test_example_plan_is_valid_and_targets_stay_in_ukraine() -> None:
    from opcloud.migrate.runner import check_residency

    plan = load_plan(REPO / "environments" / "migrations" / "prozorro-ua-aws-to-denovo.yaml")
    assert plan.jurisdiction == "UA" and len(plan.buckets) == 2
    check_residency(plan)  # De Novo hosts resolve to UA through the registry


def test_a_copy_loads_only_what_its_stores_need(tmp_path: Path) -> None:
    """Every copy pays its start-up: one between two directories loads no cloud SDK, SSH or database library and
    no plan models (a fresh interpreter, so that nothing loaded by other tests hides an import)."""
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    args = ["migrate", "copy", f"file://{source}", f"file://{target}", "--state-dir", str(tmp_path / "state"), "--json"]
    program = (
        "import sys\nfrom opcloud.cli import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit as done:\n    assert done.code == 0, done.code\n"
        "print(' '.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.splitlines()[-1].split())
    heavy = (
        "pulumi",
        "boto3",
        "botocore",
        "azure",
        "paramiko",
        "psycopg",
        "yaml",
        "opcloud.migrate.databases",
        "opcloud.migrate.plan",
        "distributed",
        "dask",
    )
    assert "opcloud.migrate.buckets.engine" in loaded
    assert sorted(name for name in loaded if name.startswith(heavy)) == []


def test_help_explains_urls() -> None:
    code, out, _ = invoke("copy", "--help")
    assert code == 0 and "s3://BUCKET" in out and "--bwlimit" in out


# -- sharded runs (issue 17): the same exit codes, bad input one line -----------------------------------------


def test_sharded_run_bad_input_is_one_line(tmp_path: Path, new_url: NewUrl) -> None:
    plan = tmp_path / "plan.yaml"
    source, target = new_url("file"), new_url("file")
    plan.write_text(f"name: p\nstate_dir: st\nbuckets:\n  - {{name: d, source: '{source}', target: '{target}'}}\n")
    assert_input_error(["run", str(plan), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], tmp_path / "st",
                       contains="not both")  # fmt: skip
    assert_input_error(["run", str(plan), "--workers", "2"], tmp_path / "st", contains="needs state_database")
    secret = "pl41n-s3cret"
    plan.write_text(plan.read_text() + f"state_database: postgresql://opcloud:{secret}@127.0.0.1/state\n")
    line = assert_input_error(["run", str(plan), "--workers", "2"], tmp_path / "st", contains="not hold a password")
    assert secret not in line


def test_sharded_run_from_the_cli_refuses_by_name_and_exits_1(new_url: NewUrl, tmp_path: Path, state_url: str) -> None:
    source, target = new_url("s3"), new_url("file")
    fill(source, {"ok/a.txt": (b"a", "text/plain", {}), "bad//key": (b"b", None, {})})
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"name: p\nstate_dir: st\nstate_database: '{state_url}'\nshard_size: 1\n"
        f"buckets:\n  - {{name: d, source: '{source}', target: '{target}'}}\n"
    )
    code, out, err = invoke("run", str(plan), "--workers", "2", "--json")
    report = json.loads(out)["pairs"][0]["report"]
    assert code == 1, err
    assert [r["key"] for r in report["refused"]] == ["bad//key"] and report["state"]["verified"] == 1
    assert report["shards"] == 2 and "Traceback" not in err
