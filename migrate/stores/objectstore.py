"""The data plane shared by the S3 and Azure stores: obstore (Rust object_store) for GET, ranged reads, HEAD (a
GET with `head`) and single-request PUTs. No SDK is imported here.

object_store addresses objects by `Path`: a name it cannot address (`a//b`, `x/./y`, control characters) is read
through the SDK on S3 and named as failed elsewhere, and refused by name before anything is written where the
store has no other way (KeyRules.object_store_paths). Listings do not come from here: object_store folds a leading
or trailing `/` away when it lists (`dir/` comes back as `dir`, with no error), so the stores list through the SDKs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

import obstore
from obstore.exceptions import NotFoundError
from opcloud.migrate.stores.base import ObjectInfo, ObjectMissing, StoreError
from opcloud.migrate.stores.keys import object_store_problem
from opcloud.migrate.stores.metakeys import MetadataKeys

if TYPE_CHECKING:
    from obstore import GetResult
    from obstore.store import AzureStore, S3Store

    ObjectStore = S3Store | AzureStore

# System headers (sameobject names) and obstore's attribute names. Attribute names are matched without case, so a
# user-metadata key spelled like one of these would be taken for the header: metakeys maps such keys.
HEADER_ATTRIBUTES = {
    "content-disposition": "Content-Disposition",
    "cache-control": "Cache-Control",
    "content-language": "Content-Language",
    "content-encoding": "Content-Encoding",
}
CONTENT_TYPE = "Content-Type"
# obstore gives its own attributes under these names; user metadata under the stored names (metakeys).
_OWN_ATTRIBUTES = frozenset({*HEADER_ATTRIBUTES.values(), CONTENT_TYPE, "Storage-Class"})
READ_CHUNK = 1024 * 1024


def attributes(
    content_type: str | None, metadata: dict[str, str], headers: Mapping[str, str] | None, keys: MetadataKeys
) -> dict[str, str]:
    """obstore attributes for an object's content type, system headers and (mapped) user metadata."""
    found: dict[str, str] = dict(keys.to_stored(metadata))
    if content_type:
        found[CONTENT_TYPE] = content_type
    for name, value in (headers or {}).items():
        if name in HEADER_ATTRIBUTES and value:
            found[HEADER_ATTRIBUTES[name]] = value
    return found


def info(key: str, meta: Mapping[str, Any], attrs: Mapping[str, str], keys: MetadataKeys) -> ObjectInfo:
    """An object's info from a GET's (or HEAD's) meta and attributes."""
    stored = {name: value for name, value in attrs.items() if name not in _OWN_ATTRIBUTES}
    return ObjectInfo(
        key=key,
        size=int(meta["size"]),
        version=etag(meta),
        content_type=attrs.get(CONTENT_TYPE),
        metadata=keys.from_stored(stored),
        headers={name: attrs[attr] for name, attr in HEADER_ATTRIBUTES.items() if attrs.get(attr)},
    )


def etag(meta: Mapping[str, Any]) -> str:
    return str(meta.get("e_tag") or "").strip('"')


def s3_timestamp(stamp: datetime) -> str:
    """LastModified as S3 lists it (millisecond precision), so states written before obstore still match."""
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}Z"


class Reader:
    """File-like view (read(n)) of a GET's body, fetched chunk by chunk by the Rust side."""

    def __init__(self, result: GetResult) -> None:
        self._chunks: Iterator[bytes] = iter(result.stream(min_chunk_size=READ_CHUNK))
        self._buffer = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all with -1), copied once from the chunks obstore gave: views are gathered and joined,
        not copied each and then joined (a part of a large object is read in one call)."""
        parts: list[memoryview] = []
        wanted = size
        while wanted < 0 or wanted > 0:
            if not self._buffer:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer = memoryview(chunk)
            piece = self._buffer if wanted < 0 else self._buffer[:wanted]
            parts.append(piece)
            self._buffer = self._buffer[len(piece) :]
            if wanted > 0:
                wanted -= len(piece)
        return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._buffer = memoryview(b"")
        self._chunks = iter(())


def body(data: BinaryIO, size: int, key: str) -> bytes | memoryview:
    """The bytes of a single-request write (the engine hands a BytesIO holding them: no copy is made)."""
    raw: bytes | memoryview = data.getbuffer() if isinstance(data, io.BytesIO) else data.read()
    if len(raw) != size:
        raise StoreError(f"{key}: expected {size} bytes, got {len(raw)}")
    return raw


def get(store: ObjectStore, name: str, key: str, offset: int = 0, head: bool = False) -> GetResult:
    """A GET (from `offset`, or only the head); a missing object, or one object_store cannot name, is a StoreError
    naming `key` (not retried)."""
    problem = object_store_problem(name)
    if problem is not None:
        raise StoreError(f"{key}: cannot be read through the data plane: {problem}")
    options: dict[str, Any] = {}
    if head:
        options["head"] = True
    elif offset:
        options["range"] = {"offset": offset}
    try:
        return obstore.get(store, name, options=options)  # type: ignore[arg-type]
    except (NotFoundError, FileNotFoundError):
        raise ObjectMissing(f"{key}: not found") from None


def describe_error(error: BaseException) -> str:
    """One line for an obstore error (its first line: the request and status, never a credential)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]

