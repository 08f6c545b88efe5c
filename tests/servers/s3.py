"""A real S3 server on loopback: moto's server as a subprocess, one per test run.

Tests get a fresh bucket each (`s3_bucket`), so they never see each other's objects.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.servers.process import free_port, start, stop, wait_for_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "opcloud-test", "AWS_SECRET_ACCESS_KEY": "opcloud-test-secret"}


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    region: str = "us-east-1"

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region, **_creds())

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}&region={self.region}"


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    # The code under test finds credentials through the standard chain, as it would in production.
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    binary = Path(sys.executable).parent / "moto_server"
    # Its request recorder (test_range_listing counts list requests with it) writes to a file: not the cwd.
    process = start([str(binary), "-H", "127.0.0.1", "-p", str(port)], log, cwd=log.parent)
    try:
        wait_for_port(port, process, log)
        yield S3Server(endpoint=f"http://127.0.0.1:{port}")
    finally:
        stop(process)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket's name."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name
