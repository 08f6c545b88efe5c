"""S3 writes carry our SHA-256 (x-amz-checksum-sha256), seen on the wire by the real server; only AWS is known to
refuse a body that does not match it, so a write elsewhere proves nothing and the object is read back."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from opcloud.migrate.stores.registry import open_store

from tests.migrate.motorecorder import recorded
from tests.servers.s3 import S3Server

BODIES = {"a.txt": b"hello", "b/c.bin": os.urandom(70_000), "empty": b""}


def test_every_single_put_carries_the_sha256_of_its_body(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(s3_server.url(s3_bucket))
    results = []

    def write() -> None:
        for key, body in BODIES.items():
            results.append(store.write(key, io.BytesIO(body), len(body), None, {}))

    puts = [r for r in recorded(s3_server, write) if r["method"] == "PUT"]
    sent = {r["url"].split(f"/{s3_bucket}/", 1)[1]: {k.lower(): v for k, v in r["headers"].items()} for r in puts}
    assert sent.keys() == BODIES.keys()
    for key, body in BODIES.items():
        assert sent[key]["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert [result.proof for result in results] == [None] * len(BODIES)  # moto takes any checksum: read back


def test_an_endpoint_from_the_environment_is_no_proof_either(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    store = open_store(f"s3://{s3_bucket}/?region=us-east-1")  # no endpoint in the URL: it looks like AWS
    result = store.write("doc.txt", io.BytesIO(b"doc"), 3, "text/plain", {})
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="doc.txt")["Body"].read() == b"doc"  # it went there
    assert result.proof is None
