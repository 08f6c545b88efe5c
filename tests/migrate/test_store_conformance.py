"""One conformance suite for every store backend, each against its real server (moto, Azurite, sshd, disk)."""

from __future__ import annotations

import hashlib
import io

import pytest

from migrate.stores.base import MultipartStore, ServerSideCopyStore, Store
from migrate.stores.registry import open_store
from opcloud.errors import InputError
from tests.migrate.conftest import NewUrl

METADATA = {"tender-id": "UA-2024-01-01-000001-a", "owner": "Київ", "plain": "x"}


@pytest.fixture
def store(backend: str, new_url: NewUrl) -> Store:
    opened = open_store(new_url(backend))
    opened.check()
    return opened


def put(store: Store, key: str, data: bytes, content_type: str | None = None, metadata: dict | None = None) -> str:
    return store.write(key, io.BytesIO(data), len(data), content_type, metadata or {}).version


def read(store: Store, key: str, offset: int = 0) -> bytes:
    handle = store.open(key, offset)
    try:
        return handle.read()
    finally:
        handle.close()


def test_write_head_read_round_trip_with_metadata(store: Store) -> None:
    version = put(store, "a/b/tender.pdf", b"%PDF-1.7 tender", "application/pdf", METADATA)
    info = store.head("a/b/tender.pdf")
    assert info is not None
    assert (info.size, info.version, info.content_type) == (15, version, "application/pdf")
    assert info.metadata == METADATA  # refused keys (tender-id on Azure) come back under their own name
    assert read(store, "a/b/tender.pdf") == b"%PDF-1.7 tender"
    assert read(store, "a/b/tender.pdf", offset=9) == b"tender"


def test_listing_streams_keys_by_prefix_with_sizes(store: Store) -> None:
    keys = {"empty": b"", "x/y/z/deep/key.bin": b"1" * 10, "укр/документ ✓.txt": b"hello", "x/other": b"22"}
    for key, data in keys.items():
        put(store, key, data)
    listed = {info.key: info.size for info in store.list()}
    assert listed == {key: len(data) for key, data in keys.items()}
    assert {info.key for info in store.list("x/")} == {"x/y/z/deep/key.bin", "x/other"}
    assert [info.key for info in store.list("nothing/")] == []


def test_overwrite_changes_version_and_delete_removes(store: Store) -> None:
    first = put(store, "k", b"one")
    second = put(store, "k", b"two-two")
    assert first != second
    assert read(store, "k") == b"two-two"
    store.delete("k")
    store.delete("k")  # deleting a missing object is fine
    assert store.head("k") is None
    assert list(store.list()) == []


def test_multipart_upload_survives_a_new_client_and_completes(store: Store, backend: str, new_url: NewUrl) -> None:
    assert isinstance(store, MultipartStore)
    part = max(store.min_part_size, 64 * 1024)
    data = bytes(range(256)) * ((2 * part + 1000) // 256 + 1)
    parts = [data[i : i + part] for i in range(0, len(data), part)]
    upload = store.begin_upload("big/object.bin", len(data))
    store.upload_part("big/object.bin", upload, 1, part, parts[0])
    store.upload_part("big/object.bin", upload, 2, part, parts[1])
    # A new client (as after a crash) still finds the parts sent so far.
    again = open_store(store.url)  # the redacted URL holds no secret, only references
    assert isinstance(again, MultipartStore)
    assert {1, 2} <= (again.parts_present("big/object.bin", upload, part) or set())
    again.upload_part("big/object.bin", upload, 3, part, parts[2])
    digest = hashlib.sha256(data).hexdigest()
    again.complete_upload(
        "big/object.bin", upload, 3, len(data), "application/octet-stream", {"opcloud_sha256": digest}
    )
    info = again.head("big/object.bin")
    assert info is not None and info.size == len(data) and info.metadata == {"opcloud_sha256": digest}
    assert hashlib.sha256(read(again, "big/object.bin")).hexdigest() == digest


def test_missing_location_is_input_error(backend: str, new_url: NewUrl) -> None:
    url = new_url(backend)
    missing = url.replace("/t-", "/missing-t-", 1)  # the new location's own name
    with pytest.raises(InputError):
        open_store(missing).check()


def test_server_side_copy_within_one_service(backend: str, new_url: NewUrl) -> None:
    source, target = open_store(new_url(backend)), open_store(new_url(backend))
    if not isinstance(target, ServerSideCopyStore):
        assert backend in ("sftp", "file")  # trees have no server-side copy: the engine streams
        return
    assert target.can_copy_from(source)
    put(source, "doc.txt", b"server side", "text/plain", {"a": "1"})
    info = next(iter(source.list()))
    target.copy_from(source, info, "copied/doc.txt", "text/plain", {"a": "1", "opcloud_sha256": "f" * 64})
    head = target.head("copied/doc.txt")
    assert head is not None and head.content_type == "text/plain"
    assert head.metadata == {"a": "1", "opcloud_sha256": "f" * 64}
    assert read(target, "copied/doc.txt") == b"server side"
