"""Connections cut in the middle of transfers (a real proxy in front of the real servers): retries recover
and the copy is complete and verified."""

from __future__ import annotations

import os
import random
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from opcloud.migrate.buckets import engine

from tests.migrate.data import MIB, dataset, expected, fill, same_content, snapshot
from tests.migrate.faultproxy import dropping_proxy
from tests.servers.azurite import AzuriteServer
from tests.servers.s3 import S3Server


def test_copy_through_connections_that_drop_midway(
    s3_server: S3Server,
    s3_bucket: str,
    azurite: AzuriteServer,
    azure_container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = dataset(large=12 * MIB)
    fill(s3_server.url(s3_bucket, "docs/"), objects)
    s3_port = int(urlsplit(s3_server.endpoint).port or 0)
    # Source reads cut after 3 MiB, target writes cut after 2 MiB, several times each.
    with (
        dropping_proxy(s3_port, after=3 * MIB, drops=3) as s3_proxy,
        dropping_proxy(azurite.port, after=2 * MIB, drops=3) as az_proxy,
    ):
        monkeypatch.setenv("OPCLOUD_TEST_AZ", AzuriteServer.connection_string_for(az_proxy.port))
        source = f"s3://{s3_bucket}/docs/?endpoint=http://127.0.0.1:{s3_proxy.port}&region=us-east-1"
        target = f"az://{azure_container}/docs/?connection_env=OPCLOUD_TEST_AZ"
        options = engine.CopyOptions(state_dir=tmp_path / "state", part_size=4 * MIB, transfers=2, progress=False)
        report = engine.copy(source, target, options)
        assert report.ok, report.failed
        assert s3_proxy.dropped >= 1 and az_proxy.dropped >= 1  # the faults really happened
    assert os.environ["AZURE_STORAGE_CONNECTION_STRING"] == azurite.connection_string
    assert same_content(snapshot(azurite.url(azure_container, "docs/")), expected(objects))


def test_bytes_corrupted_on_the_way_to_azure_are_refused_and_sent_again(
    s3_server: S3Server,
    s3_bucket: str,
    azurite: AzuriteServer,
    azure_container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flipped byte never lands: the large object's blocks carry our MD5, which Azure checks (the block is
    refused and sent again); a single PUT through obstore carries none, so a small object is proven by the MD5 the
    service computed, listed, and one whose MD5 is not ours is read back and sent again (`resent`). Had a corrupt
    write been accepted, the target's content would differ."""
    objects = dataset(large=12 * MIB)
    fill(s3_server.url(s3_bucket, "docs/"), objects)
    with dropping_proxy(azurite.port, after=256 * 1024, drops=3, corrupt=True) as az_proxy:
        monkeypatch.setenv("OPCLOUD_TEST_AZ", AzuriteServer.connection_string_for(az_proxy.port))
        target = f"az://{azure_container}/docs/?connection_env=OPCLOUD_TEST_AZ"
        options = engine.CopyOptions(state_dir=tmp_path / "state", part_size=4 * MIB, transfers=2, progress=False)
        report = engine.copy(s3_server.url(s3_bucket, "docs/"), target, options)
        assert report.ok, report.failed
        assert az_proxy.corrupted >= 2  # the faults really happened (one per connection that crossed `after`)
    large = sum(len(data) > 4 * MIB for data, _, _ in objects.values())
    assert report.verified_in_transit == large
    assert report.verified_by_service_digest + report.verified_read_back == len(objects) - large
    assert same_content(snapshot(azurite.url(azure_container, "docs/")), expected(objects))


def test_small_objects_damaged_on_the_way_to_azure_are_caught_by_the_read_back_and_sent_again(
    s3_server: S3Server,
    s3_bucket: str,
    azurite: AzuriteServer,
    azure_container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """obstore's PUT carries no MD5, so Azure accepts a body with a flipped byte: the MD5 the service computed of
    it and lists is not ours, so the listing does not prove it; the read-back must see it and the object must be
    sent again, never recorded as verified."""
    rng = random.Random(16)
    objects = {f"doc/{i:02d}.bin": (rng.randbytes(64 * 1024), "application/octet-stream", {}) for i in range(20)}
    fill(s3_server.url(s3_bucket, "docs/"), objects)
    with dropping_proxy(azurite.port, after=200 * 1024, drops=3, corrupt=True) as az_proxy:
        monkeypatch.setenv("OPCLOUD_TEST_AZ", AzuriteServer.connection_string_for(az_proxy.port))
        target = f"az://{azure_container}/docs/?connection_env=OPCLOUD_TEST_AZ"
        options = engine.CopyOptions(state_dir=tmp_path / "state", transfers=2, progress=False)
        report = engine.copy(s3_server.url(s3_bucket, "docs/"), target, options)
        assert report.ok, report.failed
        assert az_proxy.corrupted >= 1
    assert report.resent >= 1 and report.verified_read_back >= report.resent
    assert report.verified_by_service_digest + report.verified_read_back == len(objects)
    assert same_content(snapshot(azurite.url(azure_container, "docs/")), expected(objects))
