"""A copy of small objects reads and writes every object through obstore: the SDKs serve only what obstore cannot
do faithfully. Between clouds that is the listing (object_store folds `dir/` onto `dir` when it lists), so boto3
and the Azure SDK make listing calls only; between file trees no SDK is imported at all. Each copy runs in a
fresh interpreter, so what it imported and called is exactly what it shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.migrate.conftest import NewUrl
from tests.migrate.data import dataset, expected, fill, same_content, snapshot

_COPY = """
import json, sys
from pathlib import Path
from opcloud.migrate.buckets import engine

calls = []
if sys.argv[4] == "record":  # every SDK call, by operation (S3) or by request (Azure)
    import botocore.client
    from azure.core.pipeline.transport import RequestsTransport

    make_call, send = botocore.client.BaseClient._make_api_call, RequestsTransport.send

    def recorded_call(client, operation, params):
        calls.append(operation)
        return make_call(client, operation, params)

    def recorded_send(transport, request, **kwargs):
        calls.append("azure " + request.method + (" list" if "comp=list" in request.url else ""))
        return send(transport, request, **kwargs)

    botocore.client.BaseClient._make_api_call, RequestsTransport.send = recorded_call, recorded_send

report = engine.copy(sys.argv[1], sys.argv[2], engine.CopyOptions(state_dir=Path(sys.argv[3]), progress=False))
sdks = ("boto3", "botocore", "s3transfer", "azure.storage", "azure.core", "azure.identity")
loaded = sorted(name for name in sys.modules if name.startswith(sdks))
print(json.dumps({"ok": report.ok, "copied": report.copied, "failed": [f.reason for f in report.failed],
                  "loaded": loaded, "calls": sorted(set(calls))}))
"""


def _copy_in_a_fresh_interpreter(source: str, target: str, state: Path, record: bool = False) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _COPY, source, target, str(state), "record" if record else "-"],
        capture_output=True,
        text=True,
        env=dict(os.environ),  # the servers' credentials, as the fixtures exported them
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_small_objects_from_s3_to_azure_go_through_obstore_and_the_sdks_only_list(
    new_url: NewUrl, tmp_path: Path
) -> None:
    objects = dataset(large=100_000)  # every object below the part size: single PUTs only
    source, target = new_url("s3"), new_url("az")
    fill(source, objects)
    result = _copy_in_a_fresh_interpreter(source, target, tmp_path / "state", record=True)
    assert (result["ok"], result["copied"], result["failed"]) == (True, len(objects), [])
    assert result["calls"] == ["ListObjectsV2", "azure GET list"]  # no GET, HEAD or PUT of an object
    assert not [name for name in result["loaded"] if name.startswith("azure.identity")]
    # The S3 listing needs botocore's client only: boto3 and s3transfer cost every run ~45 ms more to import.
    assert not [name for name in result["loaded"] if name.startswith(("boto3", "s3transfer"))]
    assert same_content(snapshot(target), expected(objects))


def test_files_to_files_load_no_sdk(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=100_000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    result = _copy_in_a_fresh_interpreter(source, target, tmp_path / "state")
    assert (result["ok"], result["copied"], result["loaded"]) == (True, len(objects), [])
    assert same_content(snapshot(target), expected(objects))


# What `opcloud migrate copy|verify --json --no-progress` between two file trees must never import: the terminal UI
# (rich: tables, bars), the plan and database layers (yaml, psycopg, dask), the cloud SDKs and Pulumi. Each costs
# start-up on every rerun. pydantic is not listed: typer itself builds its parameter parsers with it.
_NOT_FOR_FILES = ("rich", "yaml", "psycopg", "distributed", "dask", "boto3", "botocore", "azure", "paramiko", "pulumi")

_CLI = """
import atexit, json, sys
from opcloud.cli import main

record_in = sys.argv[1]

def record() -> None:  # main() runs the exit handlers itself before it leaves with os._exit
    with open(record_in, "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(record)
sys.argv = ["opcloud", *sys.argv[2:]]
main()
"""


def _cli_in_a_fresh_interpreter(modules: Path, *args: str) -> tuple[dict, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _CLI, str(modules), *args, "--json", "--no-progress"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {name.split(".")[0] for name in json.loads(modules.read_text())}
    return json.loads(done.stdout), loaded


def test_file_tree_copy_and_verify_commands_load_no_ui_plans_databases_or_sdks(
    new_url: NewUrl, tmp_path: Path
) -> None:
    objects = dataset(large=100_000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    state = ("--state-dir", str(tmp_path / "state"))
    copied, after_copy = _cli_in_a_fresh_interpreter(tmp_path / "copy.json", "migrate", "copy", source, target, *state)
    verified, after_verify = _cli_in_a_fresh_interpreter(
        tmp_path / "verify.json", "migrate", "verify", source, target, *state
    )
    assert (copied["ok"], verified["ok"]) == (True, True)
    assert same_content(snapshot(target), expected(objects))
    assert "opcloud" in after_copy and "typer" in after_verify  # the record is of the command that ran
    assert sorted(after_copy & set(_NOT_FOR_FILES)) == []
    assert sorted(after_verify & set(_NOT_FOR_FILES)) == []
