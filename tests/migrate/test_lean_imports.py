"""A copy of small objects runs on obstore alone: neither boto3 nor the Azure SDK is imported unless a capability
needs it (multipart uploads, server-side copies, AWS profiles, DefaultAzureCredential). Each copy runs in a fresh
interpreter, so what it imported is exactly what `sys.modules` shows."""

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

report = engine.copy(sys.argv[1], sys.argv[2], engine.CopyOptions(state_dir=Path(sys.argv[3]), progress=False))
sdks = ("boto3", "botocore", "s3transfer", "azure.storage", "azure.core", "azure.identity")
loaded = sorted(name for name in sys.modules if name.startswith(sdks))
print(json.dumps({"ok": report.ok, "copied": report.copied, "failed": [f.reason for f in report.failed],
                  "loaded": loaded}))
"""


def _copy_in_a_fresh_interpreter(source: str, target: str, state: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _COPY, source, target, str(state)],
        capture_output=True,
        text=True,
        env=dict(os.environ),  # the servers' credentials, as the fixtures exported them
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_small_objects_from_s3_to_azure_load_no_sdk(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=100_000)  # every object below the part size: single PUTs only
    source, target = new_url("s3"), new_url("az")
    fill(source, objects)
    result = _copy_in_a_fresh_interpreter(source, target, tmp_path / "state")
    assert (result["ok"], result["copied"], result["failed"]) == (True, len(objects), [])
    assert result["loaded"] == []
    assert same_content(snapshot(target), expected(objects))


def test_files_to_files_load_no_sdk(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=100_000)
    source, target = new_url("file"), new_url("file")
    fill(source, objects)
    result = _copy_in_a_fresh_interpreter(source, target, tmp_path / "state")
    assert (result["ok"], result["copied"], result["loaded"]) == (True, len(objects), [])
    assert same_content(snapshot(target), expected(objects))
