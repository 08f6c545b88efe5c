"""Issue 13: "verified" means the target holds the same object - keys, bytes, headers, metadata - checked by an
independent oracle (boto3, azure-storage-blob, hashlib) against the real servers."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import ResourceNotFoundError
from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.state import state_path
from opcloud.migrate.stores.url import parse

from tests.migrate.conftest import NewUrl
from tests.migrate.data import MIB
from tests.migrate.test_resume_kill import OPCLOUD, _copy_cmd, _count, _kill_when
from tests.migrate.test_store_conformance import HEADERS, TRICKY_KEYS, TRICKY_METADATA
from tests.servers.azurite import AzuriteServer
from tests.servers.s3 import S3Server

LONG_KEY = "long/" + "x" * 795
_S3_HEADERS = {
    "content-disposition": "ContentDisposition",
    "cache-control": "CacheControl",
    "content-language": "ContentLanguage",
    "content-encoding": "ContentEncoding",
}


def options(tmp_path: Path, **kwargs: object) -> engine.CopyOptions:
    settings: dict = {"state_dir": tmp_path / "state", "part_size": 5 * MIB, "transfers": 4, "progress": False}
    return engine.CopyOptions(**{**settings, **kwargs})


def _bucket(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path.lstrip("/")


def s3_fill(s3: S3Server, url: str, objects: dict[str, bytes], headers: dict[str, str], metadata: dict) -> None:
    """Objects written by boto3 itself, with system headers and (raw) user metadata."""
    bucket, prefix = _bucket(url)
    extra = {arg: headers[name] for name, arg in _S3_HEADERS.items() if name in headers}
    for key, data in objects.items():
        s3.client().put_object(
            Bucket=bucket, Key=prefix + key, Body=data, ContentType="application/pdf", Metadata=metadata, **extra
        )


def s3_oracle(s3: S3Server, url: str) -> dict[str, tuple[str, str, dict[str, str], dict[str, str]]]:
    """key -> (SHA-256, content type, system headers, user metadata without ours), read by boto3."""
    bucket, prefix = _bucket(url)
    client, found = s3.client(), {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            reply = client.get_object(Bucket=bucket, Key=item["Key"])
            headers = {name: reply[arg] for name, arg in _S3_HEADERS.items() if reply.get(arg)}
            metadata = {k: v for k, v in reply["Metadata"].items() if k != "opcloud_sha256"}
            digest = hashlib.sha256(reply["Body"].read()).hexdigest()
            found[item["Key"][len(prefix) :]] = (digest, reply["ContentType"], headers, metadata)
    return found


def test_round_trip_s3_azure_s3_of_the_tricky_set_gives_back_the_source_exactly(
    s3_server: S3Server, azurite: AzuriteServer, new_url: NewUrl, tmp_path: Path
) -> None:
    objects = {key: f"bytes of {key!r}".encode() for key in TRICKY_KEYS}
    first, middle, last = new_url("s3"), new_url("az"), new_url("s3")
    # Raw S3 metadata as a user of S3 would set it (S3 lower-cases names): looks-mapped and malformed names too.
    metadata = {"opcx_note": "looks mapped", "opcx_bad_zz": "malformed", "tender-id": "UA-1", "owner": "=?utf-8?q?x?="}
    s3_fill(s3_server, first, objects, HEADERS, metadata)
    there = engine.copy(first, middle, options(tmp_path))
    assert there.ok and there.copied == there.verified == len(objects), (there.failed, there.refused)
    back = engine.copy(middle, last, options(tmp_path))
    assert back.ok and back.copied == back.verified == len(objects), (back.failed, back.refused)
    source = s3_oracle(s3_server, first)
    assert set(source) == set(TRICKY_KEYS)
    assert s3_oracle(s3_server, last) == source  # keys, bytes, content type, headers, metadata
    # Azure holds one blob per key: `docs\contract.pdf` was not folded onto `docs/contract.pdf`.
    container = azurite.service().get_container_client(urlsplit(middle).netloc)
    assert len(list(container.list_blob_names())) == len(objects)
    assert container.download_blob("docs/docs/contract.pdf").readall() == objects["docs/contract.pdf"]
    assert engine.verify(first, middle, tmp_path / "state", progress=False).ok


def test_keys_a_file_tree_cannot_hold_are_refused_by_name_before_writing(
    s3_server: S3Server, new_url: NewUrl, tmp_path: Path
) -> None:
    source, target = new_url("s3"), new_url("file")
    objects = {key: key.encode() for key in [*TRICKY_KEYS, "tree/a", "tree/a/b"]}
    s3_fill(s3_server, source, objects, {}, {})
    run = subprocess.run(
        [OPCLOUD, "migrate", "copy", source, target, "--state-dir", str(tmp_path / "s"), "--json", "--no-progress"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert [r["key"] for r in report["refused"]] == sorted([LONG_KEY, "tree/a", "tree/a/b"])
    assert report["failed"] == [] and report["copied"] == len(objects) - 3
    root = Path(urlsplit(target).path)
    assert not (root / "tree").exists() and not (root / "long").exists()  # nothing written for them
    assert (root / "docs\\contract.pdf").read_bytes() == b"docs\\contract.pdf"


def _wait_for_a_new_second(stamp: Any) -> None:
    """S3's LastModified has whole seconds: a change within the same second would not show in the listing."""
    while time.time() < stamp.timestamp() + 1.05:
        time.sleep(0.05)


def test_metadata_only_change_on_s3_is_copied_by_the_rerun_and_seen_by_verify(
    s3_server: S3Server, new_url: NewUrl, tmp_path: Path
) -> None:
    source, target = new_url("s3"), new_url("file")
    s3_fill(s3_server, source, {"doc.pdf": b"%PDF", "other.pdf": b"%PDF-2"}, HEADERS, {"status": "draft"})
    assert engine.copy(source, target, options(tmp_path)).ok
    bucket, prefix = _bucket(source)
    client = s3_server.client()
    _wait_for_a_new_second(client.head_object(Bucket=bucket, Key=prefix + "doc.pdf")["LastModified"])
    client.copy_object(  # in place: S3 keeps the ETag, only LastModified tells
        Bucket=bucket,
        Key=prefix + "doc.pdf",
        CopySource={"Bucket": bucket, "Key": prefix + "doc.pdf"},
        MetadataDirective="REPLACE",
        Metadata={"status": "signed"},
        ContentType="application/x-signed",
        CacheControl="no-store",
    )
    # Before the rerun, verify compares the properties and finds the target behind.
    stale = engine.verify(source, target, tmp_path / "state", progress=False)
    assert not stale.ok and [f.key for f in stale.mismatched] == ["doc.pdf"]
    rerun = engine.copy(source, target, options(tmp_path))
    assert rerun.ok and (rerun.copied, rerun.unchanged) == (1, 1)
    copied = open_head(target, "doc.pdf")
    assert (copied.content_type, copied.metadata["status"], copied.headers) == (
        "application/x-signed",
        "signed",
        {"cache-control": "no-store"},
    )
    assert engine.verify(source, target, tmp_path / "state", progress=False).ok


def open_head(url: str, key: str) -> Any:
    from opcloud.migrate.stores.registry import open_store

    store = open_store(url)
    try:
        return store.head(key)
    finally:
        store.close()


def test_metadata_only_change_on_azure_is_copied_by_the_rerun(
    azurite: AzuriteServer, new_url: NewUrl, tmp_path: Path
) -> None:
    source, target = new_url("az"), new_url("s3")
    container = azurite.service().get_container_client(urlsplit(source).netloc)
    container.upload_blob("docs/doc.pdf", b"%PDF", metadata={"status": "draft"})
    assert engine.copy(source, target, options(tmp_path)).ok
    container.get_blob_client("docs/doc.pdf").set_blob_metadata({"status": "signed"})
    rerun = engine.copy(source, target, options(tmp_path))
    assert rerun.ok and rerun.copied == 1
    assert open_head(target, "doc.pdf").metadata["status"] == "signed"


def test_check_metadata_sees_changed_properties_of_a_file_source(new_url: NewUrl, tmp_path: Path) -> None:
    """A tree's listing shows only the file's mtime: a change of its properties (held in an extended attribute,
    which leaves the mtime) needs --check-metadata."""
    from opcloud.migrate.stores.registry import open_store

    source, target = new_url("file"), new_url("s3")
    store = open_store(source)
    store.write("doc.pdf", __import__("io").BytesIO(b"%PDF"), 4, "application/pdf", {"status": "draft"}, HEADERS)
    store.close()
    assert engine.copy(source, target, options(tmp_path)).ok
    path = Path(urlsplit(source).path) / "doc.pdf"
    properties = json.loads(os.getxattr(path, "user.opcloud"))
    properties["metadata"]["status"] = "signed"
    os.setxattr(path, "user.opcloud", json.dumps(properties).encode())
    assert engine.copy(source, target, options(tmp_path)).copied == 0  # the listing cannot tell
    checked = engine.copy(source, target, options(tmp_path, check_metadata=True))
    assert checked.ok and (checked.copied, checked.unchanged) == (1, 0)
    assert open_head(target, "doc.pdf").metadata["status"] == "signed"
    again = engine.copy(source, target, options(tmp_path, check_metadata=True))
    assert again.ok and (again.copied, again.unchanged) == (0, 1)


@pytest.mark.parametrize(("src", "dst"), [("s3", "az"), ("az", "s3"), ("file", "s3"), ("s3", "sftp")])
def test_system_headers_and_metadata_are_carried(src: str, dst: str, new_url: NewUrl, tmp_path: Path) -> None:
    from opcloud.migrate.stores.registry import open_store

    source, target = new_url(src), new_url(dst)
    store = open_store(source)
    store.write("h/doc.pdf", __import__("io").BytesIO(b"%PDF"), 4, "application/pdf", TRICKY_METADATA, HEADERS)
    store.close()
    report = engine.copy(source, target, options(tmp_path))
    assert report.ok and report.verified == 1, report.failed
    assert "content-disposition" in report.carried and "metadata" in report.carried
    head = open_head(target, "h/doc.pdf")
    assert (head.content_type, head.metadata) == (
        "application/pdf",
        {**TRICKY_METADATA, "opcloud_sha256": head.metadata["opcloud_sha256"]},
    )
    assert {k: v for k, v in head.headers.items() if k in HEADERS} == HEADERS


@pytest.mark.parametrize(
    ("dst", "change"), [("s3", "deleted"), ("az", "deleted"), ("file", "deleted"), ("s3", "shrunk")]
)
def test_upload_of_a_source_that_vanished_is_aborted_by_the_next_run(
    dst: str, change: str, new_url: NewUrl, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """kill -9 inside a multipart upload, then the source object is deleted (or replaced by one small enough for
    a single write): the next run aborts the upload (S3 parts, Azure uncommitted blocks, the partial file) and
    drops its state row."""
    source, target = new_url("s3"), new_url(dst)
    s3: S3Server = request.getfixturevalue("s3_server")
    s3_fill(s3, source, {"big.bin": b"b" * (12 * MIB), "small.txt": b"s"}, {}, {})
    state = tmp_path / "state"
    db = state_path(state, parse(source).redacted(), parse(target).redacted())
    extra = ["--no-server-side"] if dst == "s3" else []
    _kill_when(
        _copy_cmd(source, target, state, "--bwlimit", "4M", *extra),
        lambda: _count(db, "SELECT COUNT(*) >= 1 FROM parts") == 1,
    )
    assert _count(db, "SELECT COUNT(*) FROM uploads") == 1
    bucket, prefix = _bucket(source)
    if change == "deleted":
        s3.client().delete_object(Bucket=bucket, Key=prefix + "big.bin")
    else:
        s3.client().put_object(Bucket=bucket, Key=prefix + "big.bin", Body=b"now small")
    rerun = subprocess.run(_copy_cmd(source, target, state, *extra), capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert _count(db, "SELECT COUNT(*) FROM uploads") == 0 and _count(db, "SELECT COUNT(*) FROM parts") == 0
    if dst == "s3":
        target_bucket, _ = _bucket(target)
        assert s3.client().list_multipart_uploads(Bucket=target_bucket).get("Uploads", []) == []
    elif dst == "az":
        azurite: AzuriteServer = request.getfixturevalue("azurite")
        blob = azurite.service().get_container_client(urlsplit(target).netloc).get_blob_client("docs/big.bin")
        with pytest.raises(ResourceNotFoundError):
            blob.get_block_list("uncommitted")
    else:
        partial = Path(urlsplit(target).path) / ".opcloud-partial"
        assert [p.name for p in partial.iterdir()] == []


def test_no_sdk_log_line_reaches_stderr_with_no_progress(
    azurite: AzuriteServer, new_url: NewUrl, tmp_path: Path
) -> None:
    """Reads from Azure cut mid-stream: the SDK logs "Unable to stream download." - never on our stderr."""
    from tests.migrate.faultproxy import dropping_proxy

    container = urlsplit(new_url("az")).netloc
    azurite.service().get_container_client(container).upload_blob("docs/big.bin", b"z" * (6 * MIB))
    with dropping_proxy(azurite.port, after=1 * MIB, drops=2) as proxy:
        env = {**os.environ, "OPCLOUD_TEST_AZ": AzuriteServer.connection_string_for(proxy.port)}
        source = f"az://{container}/docs/?connection_env=OPCLOUD_TEST_AZ"
        command = _copy_cmd(source, new_url("file"), tmp_path / "state")
        run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        assert proxy.dropped >= 1  # connections really dropped
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert json.loads(run.stdout)["ok"]


def test_state_counts_helper_reads_the_real_state(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE uploads (key TEXT)")
    assert _count(db, "SELECT COUNT(*) FROM uploads") == 0


def test_twins_a_folding_target_would_merge_are_refused_by_name(
    s3_server: S3Server, new_url: NewUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target that folds case and normalises unicode (a case-insensitive share) declares so in its features:
    each pair of twins is refused by name before anything is written, never one copied over the other."""
    from dataclasses import replace

    from opcloud.migrate.stores import tree

    real = tree.tree_features
    monkeypatch.setattr(
        tree,
        "tree_features",
        lambda root: replace(real(root), keys=replace(real(root).keys, folds_case=True, folds_unicode=True)),
    )
    source, target = new_url("s3"), new_url("file")
    s3_fill(s3_server, source, {key: key.encode() for key in TRICKY_KEYS if key != LONG_KEY}, {}, {})
    report = engine.copy(source, target, options(tmp_path))
    twins = ["case/Report.PDF", "case/report.pdf", "nfc/caf\u00e9.txt", "nfc/cafe\u0301.txt"]
    assert not report.ok and [r.key for r in report.refused] == sorted(twins)
    assert report.copied == len(TRICKY_KEYS) - 1 - len(twins) and not report.failed
    root = Path(urlsplit(target).path)
    assert not (root / "case").exists() and not (root / "nfc").exists()
