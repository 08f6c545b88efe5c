"""Log records: silent by default, shown with --verbose, kept with --log-file, secrets masked everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from opcloud.logs import mask
from tests.servers.s3 import CREDENTIALS, S3Server

ENTRY = [sys.executable, "-c", "from opcloud.cli import main; main()"]


def test_mask_hides_values_and_keeps_names() -> None:
    samples = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0123abcdef0123abcdef": "0123abcdef0123abcdef",
        "GET https://acct.blob.core.windows.net/c/b?sv=2021&se=2026&sig=AbCdEf%2B123%3D": "AbCdEf%2B123%3D",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5PT0=;EndpointSuffix=x": "c2VjcmV0a2V5PT0=",
        "connecting to postgresql://app:Sup3rS3cret@db.internal:5432/prozorro": "Sup3rS3cret",
        "{'password': 'hunter2-long'}": "hunter2-long",
        "x-amz-security-token: FQoGZXIvYXdzEXAMPLETOKEN": "FQoGZXIvYXdzEXAMPLETOKEN",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----": "b3BlbnNzaC1rZXk",
    }
    for text, secret in samples.items():
        masked = mask(text)
        assert secret not in masked, masked
        assert "****" in masked
    assert "AccountName=a" in mask("AccountName=a;AccountKey=k2345678")  # names stay readable
    assert mask("copied 3 objects, verified 3") == "copied 3 objects, verified 3"


def _copy(tmp_path: Path, s3_server: S3Server, *root_options: str) -> subprocess.CompletedProcess[str]:
    client = s3_server.client()
    bucket = "log-test-" + tmp_path.name[-8:].lower().replace("_", "-")
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"hello")
    target = tmp_path / "target"
    target.mkdir()
    return subprocess.run(
        [*ENTRY, *root_options, "migrate", "copy", s3_server.url(bucket, "docs/"), f"file://{target}",
         "--no-progress", "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_log_file_keeps_sdk_requests_with_secrets_masked(tmp_path: Path, s3_server: S3Server) -> None:
    log = tmp_path / "opcloud.log"
    done = _copy(tmp_path, s3_server, "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert "botocore" in text and "DEBUG" in text  # the SDK's requests are there
    assert "Signature=****" in text and "Signature:\n****" in text  # header and botocore.auth's own line
    assert not re.search(r"Signature[=:]\s*[0-9a-f]{16}", text)
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in text
    assert "botocore" not in done.stderr  # the file, not the terminal


def test_verbose_shows_log_records_on_stderr(tmp_path: Path, s3_server: S3Server) -> None:
    (tmp_path / "quiet").mkdir()
    quiet = _copy(tmp_path / "quiet", s3_server)
    loud = _copy(tmp_path, s3_server, "-vv")
    assert quiet.returncode == 0 and loud.returncode == 0, loud.stderr
    assert "botocore" not in quiet.stderr
    assert "botocore" in loud.stderr and "Signature=****" in loud.stderr


def test_unwritable_log_file_is_one_input_error(tmp_path: Path) -> None:
    done = subprocess.run([*ENTRY, "--log-file", str(tmp_path / "missing" / "x.log"), "stack", "list"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--log-file" in lines[0]
