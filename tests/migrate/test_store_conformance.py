"""One conformance suite for every store backend, each against its real server (moto, Azurite, sshd, disk)."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest
from opcloud.migrate.stores import base
from opcloud.migrate.stores.base import FetchStore, MultipartStore, ServerSideCopyStore, Store
from opcloud.migrate.stores.registry import open_store

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


# -- the same object: keys, headers, metadata (issue 13) -------------------------------------------------------

# Keys some service would change: unicode NFC/NFD twins, case twins, backslash (Azure folds it to `/`), URL
# characters, trailing dots and spaces, 60 levels, 800 bytes, and the encoding's own look-alikes.
TRICKY_KEYS = [
    "nfc/caf\u00e9.txt",
    "nfc/cafe\u0301.txt",
    "case/Report.PDF",
    "case/report.pdf",
    "docs\\contract.pdf",
    "docs/contract.pdf",
    "chars/a+b%20c#d?e;f.txt",
    "trail/dot.",
    "trail/space ",
    "trail/dir./x",
    "trail/dir /x",
    "deep/" + "/".join(f"l{i}" for i in range(60)) + "/leaf",
    "long/" + "x" * 795,
    "look-alikes/\uff3c\uff0e\u2420\u201b.",
]
HEADERS = {
    "content-disposition": 'attachment; filename="contract.pdf"',
    "cache-control": "private, max-age=60",
    "content-language": "uk",
    "content-encoding": "identity",
}
TRICKY_METADATA = {
    "opcx_note": "looks mapped",
    "opcx_bad_zz": "looks mapped, malformed",
    "Owner": "Київ",
    "tender-id": " padded ",
    "encoded": "=?utf-8?b?SGk=?=",
    "q-word": "=?utf-8?q?caf=C3=A9?=",
}


def test_tricky_keys_come_back_exactly_or_are_refused_by_name(store: Store) -> None:
    held = [key for key in TRICKY_KEYS if store.features.keys.problem(key) is None]
    for number, key in enumerate(held):
        put(store, key, f"object {number}".encode())
    assert sorted(info.key for info in store.list()) == sorted(held)  # none folded onto another
    for number, key in enumerate(held):
        assert read(store, key) == f"object {number}".encode()
    refused = set(TRICKY_KEYS) - set(held)
    assert refused <= {"long/" + "x" * 795}  # only a file system refuses a name (its 795-byte segment)


def test_system_headers_and_content_type_round_trip(store: Store) -> None:
    store.write("h/doc.pdf", io.BytesIO(b"%PDF"), 4, "application/pdf", {}, HEADERS)
    info = store.head("h/doc.pdf")
    assert info is not None and info.content_type == "application/pdf"
    assert {k: v for k, v in (info.headers or {}).items() if k in HEADERS} == HEADERS


def test_metadata_keys_and_values_come_back_exactly(store: Store) -> None:
    put(store, "m/doc.txt", b"meta", "text/plain", TRICKY_METADATA)
    info = store.head("m/doc.txt")
    assert info is not None and info.metadata == TRICKY_METADATA


def test_sidecars_of_a_and_a_json_slash_b_do_not_collide(store: Store) -> None:
    put(store, "a", b"first", "text/plain", {"which": "a"})
    put(store, "a.json/b", b"second", "text/csv", {"which": "a.json/b"})
    first, second = store.head("a"), store.head("a.json/b")
    assert first is not None and (first.content_type, first.metadata) == ("text/plain", {"which": "a"})
    assert second is not None and (second.content_type, second.metadata) == ("text/csv", {"which": "a.json/b"})


class _BreaksAfter:
    """A source stream that fails after its first chunk (a lost connection)."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 1:
            raise ConnectionResetError("source connection lost")
        return b"x" * 1000


def test_a_failed_write_leaves_no_partial_file(store: Store, backend: str) -> None:
    if not isinstance(store, base.PartialFilesStore):
        assert backend in ("s3", "az")  # object stores write in one request: a failed one leaves nothing
        return
    with pytest.raises(ConnectionResetError):
        store.write("broken.bin", _BreaksAfter(), 10_000, None, {})  # type: ignore[arg-type]
    assert store.head("broken.bin") is None
    assert store.sweep_partials(set()) == 0  # the failed write removed its own partial file


def test_an_aborted_upload_leaves_no_parts_for_a_new_client(store: Store) -> None:
    assert isinstance(store, MultipartStore)
    part = max(store.min_part_size, 64 * 1024)
    upload = store.begin_upload("gone/object.bin", 3 * part)
    store.upload_part("gone/object.bin", upload, 1, part, b"p" * part)
    again = open_store(store.url)  # as after a kill: a new client aborts what the old one began
    assert isinstance(again, MultipartStore)
    again.abort_upload("gone/object.bin", upload)
    assert not again.parts_present("gone/object.bin", upload, part)  # None (S3: no such upload) or nothing
    assert again.head("gone/object.bin") is None and list(again.list()) == []


def test_gzip_encoded_objects_read_back_as_stored(store: Store) -> None:
    """Content-Encoding: gzip is a property to carry, not a request to decompress: the bytes come back as stored."""
    data = gzip.compress(b"tender " * 1000)
    store.write("z/doc.txt", io.BytesIO(data), len(data), "text/plain", {}, {"content-encoding": "gzip"})
    assert read(store, "z/doc.txt") == data
    if isinstance(store, FetchStore):
        info, stream = store.fetch("z/doc.txt")
        assert (info.headers or {}).get("content-encoding") == "gzip" and stream.read() == data


# Names object_store (the obstore data plane) cannot address: S3 holds them all (through boto3 for those names);
# elsewhere each is held as it is or refused by name, never folded (object_store turns `dir/` into `dir`).
UNADDRESSABLE_KEYS = ["a-first", "gap//key", "dir/", "dir", "dot/./x", "ctl\x01char", "z-last"]


def test_names_object_store_cannot_address_are_carried_or_refused_by_name(store: Store, backend: str) -> None:
    held = [key for key in UNADDRESSABLE_KEYS if store.features.keys.problem(key) is None]
    if backend == "s3":
        assert held == UNADDRESSABLE_KEYS
    for number, key in enumerate(held):
        put(store, key, f"object {number}".encode())
    assert sorted(info.key for info in store.list()) == sorted(held)
    for number, key in enumerate(held):
        assert read(store, key) == f"object {number}".encode()
        info = store.head(key)
        assert info is not None and info.size == len(f"object {number}")
    store.delete(held[1])  # gap//key on S3
    assert store.head(held[1]) is None
    folders = {"gap/", "dir/", "dot/"} & {key.split("/")[0] + "/" for key in held[2:] if "/" in key}
    assert list(store.list_prefixes()) == sorted(folders)  # a delimiter listing of those names, too
    if "dot/./x" in held:
        assert list(store.list_prefixes("dot/")) == ["dot/./"]


# -- key ranges and delimiter listings (issue 17): what a shard lists ------------------------------------------

# `.` (0x2E) < `/` (0x2F) < `0` (0x30): a tree walked folder by folder must still give byte order.
RANGE_KEYS = ["a-1", "a.b", "a/x", "a/y/z", "a0", "b", "c/d/e", "z", "é/1"]


def test_listing_is_in_byte_order_and_ranges_are_exclusive(store: Store) -> None:
    for key in reversed(RANGE_KEYS):
        put(store, key, key.encode())
    assert [info.key for info in store.list()] == sorted(RANGE_KEYS, key=str.encode) == RANGE_KEYS

    def listed(prefix: str = "", start_after: str | None = None, stop_before: str | None = None) -> list[str]:
        return [info.key for info in store.list(prefix, start_after=start_after, stop_before=stop_before)]

    assert listed(start_after="a/x", stop_before="b") == ["a/y/z", "a0"]  # both bounds exclusive
    assert listed(start_after="a/", stop_before="a/y/z") == ["a/x"]  # bounds need not be keys
    assert listed(start_after="a0") == ["b", "c/d/e", "z", "é/1"]
    assert listed(stop_before="a/") == ["a-1", "a.b"]
    assert listed("a/", start_after="a/x") == ["a/y/z"]
    assert listed("b", stop_before="b/c") == ["b"]
    assert listed(start_after="é/1") == [] and listed(stop_before="a-1") == []


def test_ranges_of_tricky_keys_hold_exactly_the_keys_between_their_bounds(store: Store) -> None:
    """Encoded names (Azure) sort differently from the keys: a range still holds exactly its keys."""
    held = [key for key in TRICKY_KEYS if store.features.keys.problem(key) is None]
    for key in held:
        put(store, key, b"x")
    bounds = sorted(held)
    for low, high in [(None, bounds[3]), (bounds[1], bounds[6]), (bounds[5], None), ("docs", "docs0"), ("d", "t")]:
        expected = {key for key in held if (low is None or key > low) and (high is None or key < high)}
        assert {info.key for info in store.list(start_after=low, stop_before=high)} == expected, (low, high)


def test_delimiter_listing_gives_the_folders_one_level_down(store: Store) -> None:
    for key in ["a/1", "a/b/2", "a/b/c/3", "b/4", "c", "d/e/f", "d.txt"]:
        put(store, key, b"x")
    assert list(store.list_prefixes()) == ["a/", "b/", "d/"]
    assert list(store.list_prefixes("a/")) == ["a/b/"]
    assert list(store.list_prefixes("a/b/")) == ["a/b/c/"]
    assert list(store.list_prefixes("d")) == ["d/"]
    assert list(store.list_prefixes("b/")) == [] and list(store.list_prefixes("nothing/")) == []
