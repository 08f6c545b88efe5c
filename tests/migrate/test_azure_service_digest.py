"""Azure small objects proven from one listing: Put Blob stores the MD5 the service computed of the body it received,
and List Blobs shows it; ours of the bytes we sent must match, with the size and ETag our PUT returned, and every
property compared from the same listing. No object is read back unless that proof fails."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import math
import random
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from opcloud.migrate.buckets import digests, engine
from opcloud.migrate.buckets.sameobject import WITHOUT_MD5, Features, carried
from opcloud.migrate.buckets.state import Todo, state_path
from opcloud.migrate.buckets.transfer import Copied
from opcloud.migrate.stores.azure import AzureStore
from opcloud.migrate.stores.base import (
    HASHED_WHILE_WRITTEN,
    SERVICE_DIGEST,
    SHA256_KEY,
    TARGET_CHECKED,
    ListedDigest,
    ObjectInfo,
    WriteResult,
)
from opcloud.migrate.stores.keys import KeyRules
from opcloud.migrate.stores.registry import open_store

from tests.migrate.conftest import NewUrl
from tests.migrate.data import dataset, expected, fill, same_content, snapshot
from tests.migrate.httprecorder import recording_proxy
from tests.servers.azurite import AzuriteServer


def test_azurite_stores_the_md5_it_computed_for_a_put_blob_without_one(
    azurite: AzuriteServer, azure_container: str
) -> None:
    """The premise of the proof: obstore sends no Content-MD5, yet the listing holds the body's MD5."""
    body = b"opcloud" * 9_000
    store = open_store(azurite.url(azure_container, "docs/"))
    try:
        store.write("a.bin", io.BytesIO(body), len(body), None, {})
    finally:
        store.close()
    container = azurite.service().get_container_client(azure_container)
    [listed] = list(container.list_blobs(name_starts_with="docs/"))
    assert listed.content_settings.content_md5 is not None
    assert bytes(listed.content_settings.content_md5) == hashlib.md5(body).digest()


def test_a_listed_digest_describes_the_object_as_a_head_does(azurite: AzuriteServer, azure_container: str) -> None:
    """The listing's properties are what the proof compares with the source's: they must be a HEAD's, to the
    letter (mapped metadata keys restored, encoded values decoded, every system header, encoded key names)."""
    body = b"x" * 1000
    headers = {
        "content-disposition": 'attachment; filename="a.pdf"',
        "cache-control": "no-cache",
        "content-language": "uk",
        "content-encoding": "identity",
    }
    metadata = {"tender-id": "UA-1", "owner": "Київ", "plain": "v", "MixedCase": "m"}
    keys = ["документи/звіт ✓.txt", "a/b.pdf", "a/c\\d.", "z"]
    store = open_store(azurite.url(azure_container, "docs/"))
    try:
        for key in keys:
            store.write(key, io.BytesIO(body), len(body), "application/pdf", metadata, headers)
        listed = store.list_digests(keys[:3])  # type: ignore[attr-defined]
        assert sorted(listed) == sorted(keys[:3])
        for key in keys[:3]:
            assert listed[key].info == store.head(key)
            assert listed[key].md5 == base64.b64encode(hashlib.md5(body).digest()).decode()
    finally:
        store.close()


def _options(tmp_path: Path, **kwargs: object) -> engine.CopyOptions:
    settings: dict = {"state_dir": tmp_path / "state", "transfers": 4, "progress": False}
    return engine.CopyOptions(**{**settings, **kwargs})


def _small_objects(count: int) -> dict[str, tuple[bytes, str | None, dict[str, str]]]:
    rng = random.Random(23)
    return {f"doc/{i:03d}.bin": (rng.randbytes(rng.randrange(0, 70_000)), None, {"n": str(i)}) for i in range(count)}


def test_a_small_copy_to_azure_proves_every_object_from_listings_and_reads_none_back(
    new_url: NewUrl, azurite: AzuriteServer, azure_container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every HTTP request Azurite receives, from obstore and the SDK alike: PUTs of the objects and listings, never
    a GET or HEAD of a blob. Several batches are listed while other PUTs are in flight."""
    monkeypatch.setattr(digests, "BATCH", 7)
    objects = {**dataset(large=100_000), **_small_objects(40)}  # every object below the part size: single PUTs
    source = new_url("s3")
    fill(source, objects)
    target = f"az://{azure_container}/docs/?connection_env=OPCLOUD_TEST_AZ"
    with recording_proxy(azurite.port) as proxy:
        monkeypatch.setenv("OPCLOUD_TEST_AZ", AzuriteServer.connection_string_for(proxy.port))
        report = engine.copy(source, target, _options(tmp_path))
    assert report.ok, report.failed
    methods = [(method, "comp=list" in path) for method, path in proxy.requests]
    assert methods.count(("PUT", False)) == len(objects)
    assert [call for call in methods if call not in (("PUT", False), ("GET", True))] == []
    assert 2 < methods.count(("GET", True)) <= 2 + math.ceil(len(objects) / 7)  # the run's own listings + batches
    assert report.proofs == {
        TARGET_CHECKED: 0,
        HASHED_WHILE_WRITTEN: 0,
        SERVICE_DIGEST: len(objects),
        "read-back": 0,
    }
    assert report.to_dict()["proofs"]["serviceDigest"] == len(objects)
    assert same_content(snapshot(azurite.url(azure_container, "docs/")), expected(objects))
    monkeypatch.setenv("OPCLOUD_TEST_AZ", azurite.connection_string)
    rerun = engine.copy(source, target, _options(tmp_path))
    assert (rerun.ok, rerun.copied, rerun.unchanged) == (True, 0, len(objects))  # recorded as verified


def test_a_blob_written_again_between_our_put_and_the_listing_is_not_proven_by_it(
    new_url: NewUrl, azurite: AzuriteServer, azure_container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer puts the very same bytes and properties again: same MD5, but not the blob our PUT made (its
    ETag differs). The listing must not count it proven; a read-back finds it the same object."""
    objects = _small_objects(12)
    source = new_url("s3")
    fill(source, objects)
    replaced = "doc/005.bin"
    write = AzureStore.write

    def write_then_another_writer(store: AzureStore, key: str, *args: object, **kwargs: object) -> WriteResult:
        result = write(store, key, *args, **kwargs)  # type: ignore[arg-type]
        if key == replaced:
            blob = azurite.service().get_blob_client(azure_container, "docs/" + key)
            props = blob.get_blob_properties()
            body = blob.download_blob().readall()
            blob.upload_blob(body, overwrite=True, metadata=props.metadata, content_settings=props.content_settings)
            assert blob.get_blob_properties().etag.strip('"') != result.version  # the race really happened
        return result

    monkeypatch.setattr(AzureStore, "write", write_then_another_writer)
    report = engine.copy(source, azurite.url(azure_container, "docs/"), _options(tmp_path))
    assert report.ok, report.failed
    assert (report.verified_by_service_digest, report.verified_read_back) == (len(objects) - 1, 1)
    assert report.resent == 0  # read back the same object: nothing to send again
    assert same_content(snapshot(azurite.url(azure_container, "docs/")), expected(objects))


class _Crash(BaseException):
    """The process dying between the PUTs and the listing that would prove them."""


def test_a_crash_before_the_listing_leaves_objects_unverified_and_the_next_run_reads_them_back(
    new_url: NewUrl, azurite: AzuriteServer, azure_container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = _small_objects(10)
    source, target = new_url("s3"), azurite.url(azure_container, "docs/")
    fill(source, objects)

    def crash(store: AzureStore, keys: object) -> dict:
        raise _Crash

    with monkeypatch.context() as patched:
        patched.setattr(AzureStore, "list_digests", crash)
        with pytest.raises(_Crash):
            engine.copy(source, target, _options(tmp_path))
    path = state_path(tmp_path / "state", open_store(source).url, open_store(target).url)
    with sqlite3.connect(path) as db:
        copied, verified = db.execute("SELECT COUNT(*), COALESCE(SUM(verified), 0) FROM objects").fetchone()
    assert (copied, verified) == (len(objects), 0)  # written and recorded, none taken for proven
    resumed = engine.copy(source, target, _options(tmp_path))
    assert resumed.ok, resumed.failed
    assert (resumed.copied, resumed.verified_read_back, resumed.verified_by_service_digest) == (0, len(objects), 0)


AZURE_FEATURES = Features(holds=WITHOUT_MD5, keys=KeyRules(), listing_sees_metadata_changes=True)


def test_each_rule_of_the_listing_proof_can_refuse_it() -> None:
    """Every condition of `digests.unproven` on its own (the servers above cannot produce a listing without an MD5,
    nor every mismatch on demand): only the object that meets all of them is proven."""
    ctx = SimpleNamespace(properties=carried(AZURE_FEATURES, AZURE_FEATURES))
    source = ObjectInfo("k", 3, "src-etag", "text/plain", {"a": "1"}, {})
    ours = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    copied = Copied(sha="s" * 64, info=source, proof=None, version="etag-1", md5=ours)
    waiting = digests.Awaiting(Todo("k", 3, "src-etag", "copy"), copied)
    stored = ObjectInfo("k", 3, "etag-1", "text/plain", {"a": "1", SHA256_KEY: "s" * 64}, {})

    def listed(**changes: object) -> ListedDigest:
        md5 = changes.pop("md5", ours)
        return ListedDigest(info=dataclasses.replace(stored, **changes), md5=md5)  # type: ignore[arg-type]

    assert digests.unproven(ctx, waiting, listed()) is None  # type: ignore[arg-type]
    refusals = [
        None,
        listed(md5=None),
        listed(md5=base64.b64encode(hashlib.md5(b"abd").digest()).decode()),
        listed(size=4),
        listed(version="etag-2"),
        listed(metadata={"a": "1", SHA256_KEY: "t" * 64}),
        listed(metadata={"a": "2", SHA256_KEY: "s" * 64}),
        listed(content_type="application/octet-stream"),
    ]
    for refused in refusals:
        assert digests.unproven(ctx, waiting, refused) is not None, refused  # type: ignore[arg-type]
