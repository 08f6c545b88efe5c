"""The store interface every backend implements: a small core plus optional capabilities.

Modelled on rclone's fs/types.go: the core (list, head, open, write, delete) is what every backend must
give; what only some can do (server-side copy, resumable multipart uploads) is a separate protocol that the
engine checks with isinstance, so a backend never fakes a capability it does not have.

Keys are always relative to the store's prefix and use `/` as separator.
A key range is compared as Python compares str, which is the UTF-8 byte order S3 lists in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

if TYPE_CHECKING:
    from opcloud.migrate.buckets.sameobject import Features

# Our own SHA-256 travels in the target object's metadata under this name: a valid C# identifier
# (Azure) and a valid S3 metadata key, so it needs no mapping on any backend.
SHA256_KEY = "opcloud_sha256"


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a head tells about one object."""

    key: str
    size: int
    # A value that changes whenever the object's content changes: the ETag on S3/Azure, the
    # modification time on file trees. Used only to detect change, never as a content hash.
    version: str
    content_type: str | None = None
    metadata: dict[str, str] | None = None  # None when the listing does not carry it (head does)
    headers: dict[str, str] | None = None  # system headers by lower-case name (sameobject.SYSTEM_HEADERS)
    # Listings only: a stamp that changes when metadata or headers change even if `version` does not (S3's
    # LastModified: a metadata-only copy keeps the ETag); "" where `version` already shows such changes.
    modified: str = ""


# How a write proves its bytes without reading them back (WriteResult.proof; None: it does not, read back).
TARGET_CHECKED = "target-checked"  # the service checked a checksum we sent of every byte (and would refuse)
HASHED_WHILE_WRITTEN = "hashed-while-written"  # a file tree: our SHA-256 of the bytes as they went to the file
# Not a write's own proof but a later one: the service computed an MD5 of the body it stored, a listing shows it, and
# it equals ours of the bytes we sent (Azure Put Blob's Content-MD5), with the size and ETag our write returned.
SERVICE_DIGEST = "service-digest"


@dataclass(frozen=True)
class WriteResult:
    """The target's own view of an object just written: its `version` to detect later changes, and the proof
    the write itself gives of its bytes (TARGET_CHECKED, HASHED_WHILE_WRITTEN, or None: read it back)."""

    version: str
    proof: str | None = None


def after_start(key: str, start_after: str | None) -> bool:
    """`key` lies after the range's exclusive lower bound."""
    return start_after is None or key > start_after


def before_stop(key: str, stop_before: str | None) -> bool:
    """`key` lies before the range's exclusive upper bound."""
    return stop_before is None or key < stop_before


class StoreError(Exception):
    """A store operation failed in a way retrying will not fix (missing object, refused request)."""


class ObjectMissing(StoreError):
    """The object is not there (FetchStore.fetch): as against one the store cannot read, which is a StoreError."""


@runtime_checkable
class Store(Protocol):
    """The core every backend implements."""

    url: str  # the redacted URL: safe to print, log and store
    features: Features  # what it can hold (properties, keys)

    def check(self) -> None:
        """Reach the store and fail with ConnectionFailed/InputError if it is missing or refuses us."""

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix` and lies strictly between `start_after` and `stop_before`
        (both exclusive, None: unbounded), as a stream in ascending UTF-8 byte order of keys (never all in
        memory). The bounds are pushed down to the service where it can (S3 StartAfter), so a key range is
        listed without paging through the rest of the store."""

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        """The common prefixes one level below `prefix` (each ending with `delimiter`), ascending, as a delimiter
        listing gives them: how the key space is split into ranges without listing every object."""

    def head(self, key: str) -> ObjectInfo | None:
        """One object's size, version, content type and metadata; None when it does not exist."""

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """A stream of the object's bytes from `offset` (ranged read)."""

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Store `size` bytes read from `data` in one request, with content type, metadata and system headers."""

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class MultipartStore(Protocol):
    """Optional: large objects in parts that survive a crash of the writer (S3 multipart uploads,
    Azure uncommitted blocks, a partial file on a tree). Parts are numbered from 1."""

    min_part_size: int
    max_parts: int
    part_concurrency: int  # how many parts of one object may be sent at once

    def begin_upload(self, key: str, size: int) -> str:
        """Start an upload and return its id (stored in the state database)."""

    def parts_present(self, key: str, upload_id: str, part_size: int) -> set[int] | None:
        """Part numbers the store holds for the upload; None when the upload no longer exists."""

    def upload_part(self, key: str, upload_id: str, number: int, part_size: int, data: bytes) -> None:
        """Send part `number` (bytes from (number-1)*part_size)."""

    def complete_upload(
        self,
        key: str,
        upload_id: str,
        parts: int,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Assemble the parts into the object, with content type, metadata (our SHA-256 among them), headers."""

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Drop the parts of an upload that will not be completed (also after a crash, from a new client)."""


@runtime_checkable
class PartialFilesStore(Protocol):
    """Optional: a store that writes partial files of its own (trees) and can remove those no upload needs."""

    def sweep_partials(self, live_uploads: set[str]) -> int:
        """Remove partial files that belong to no upload in `live_uploads`; returns how many."""


@runtime_checkable
class RootCreatingStore(Protocol):
    """Optional: a store whose root a copy may create when it is missing (a directory tree, as rclone does)."""

    def create_root(self) -> None:
        """Create the root directory (and its parents); an existing one is left as it is."""


@dataclass(frozen=True)
class ListedDigest:
    """One object as a listing shows it: every property a HEAD gives, and the MD5 the service holds (base64; None
    when it holds none)."""

    info: ObjectInfo
    md5: str | None


@runtime_checkable
class ServiceDigestStore(Protocol):
    """Optional: the service computes the MD5 of the body of every single-request write and lists it with every
    property (Azure Put Blob): a batch of writes is proven from one listing instead of a read-back each."""

    def list_digests(self, keys: Sequence[str]) -> dict[str, ListedDigest]:
        """The objects of `keys` found by one listing of the range they span (a key not found is left out)."""


@runtime_checkable
class FetchStore(Protocol):
    """Optional: head and body of an object in one request (S3 GET, Azure download)."""

    def fetch(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The object's info (with content type and metadata) and a stream of its bytes."""


@runtime_checkable
class ServerSideCopyStore(Protocol):
    """Optional: copy an object from another store of the same service without the bytes passing here."""

    def can_copy_from(self, source: Store) -> bool:
        """True when `source` is reachable from this store's service (same endpoint and account)."""

    def copy_from(
        self,
        source: Store,
        src: ObjectInfo,
        key: str,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Copy `src` of `source` to `key` here, replacing metadata and headers; fails if the source changed
        since listed."""
