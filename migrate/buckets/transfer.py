"""Moving one object: streamed, hashed (our SHA-256) while it passes, in resumable parts when large.

Memory is bounded by a shared pool of part buffers (`Buffers`): each buffer holds at most one part, and a
transfer waits for a free buffer before reading, so memory never exceeds buffers x part size whatever the
number or size of the objects.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from opcloud.migrate.buckets.sameobject import Carried, carried, differences, headers_to_carry
from opcloud.migrate.buckets.state import StateDB
from opcloud.migrate.stores.base import (
    SHA256_KEY,
    FetchStore,
    MultipartStore,
    ObjectInfo,
    ObjectMissing,
    ServerSideCopyStore,
    ServiceDigestStore,
    Store,
    StoreError,
    WriteResult,
)

_CHUNK = 1024 * 1024


class TransientError(Exception):
    """Worth retrying: the source changed under us, a stream ended early."""


class Bandwidth:
    """A token bucket shared by all transfers (`--bwlimit`), in bytes per second; None = unlimited."""

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._available = float(rate or 0)
        self._stamp = time.monotonic()

    def take(self, amount: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self._available = min(float(self.rate), self._available + (now - self._stamp) * self.rate)
            self._stamp = now
            self._available -= amount
            wait = -self._available / self.rate if self._available < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class Buffers:
    """At most `count` part-sized buffers alive at once across every transfer."""

    def __init__(self, count: int) -> None:
        self._slots = threading.BoundedSemaphore(count)

    def acquire(self) -> None:
        self._slots.acquire()

    def release(self) -> None:
        self._slots.release()


@dataclass
class Context:
    source: Store
    target: Store
    state: StateDB
    bandwidth: Bandwidth
    buffers: Buffers
    part_size: int
    on_bytes: Callable[[int], None]  # progress: bytes read from the source
    on_resumed_part: Callable[[], None]
    server_side: bool = True
    read_back: bool = False  # read every copied object back, even where the target checked our MD5
    # Capabilities, found once: isinstance against a runtime-checkable Protocol is slow per object.
    fetch_source: bool = field(init=False)
    fetch_target: bool = field(init=False)
    multipart_target: bool = field(init=False)
    copy_target: bool = field(init=False)
    # Single PUTs are proven from a listing of the service's MD5 (ServiceDigestStore): ours is computed as they pass.
    service_digest: bool = field(init=False)
    properties: Carried = field(init=False)  # what this pair carries and compares besides key and bytes

    def __post_init__(self) -> None:
        self.properties = carried(self.source.features, self.target.features)
        self.fetch_source = isinstance(self.source, FetchStore)
        self.fetch_target = isinstance(self.target, FetchStore)
        self.multipart_target = isinstance(self.target, MultipartStore)
        self.copy_target = (
            self.server_side and isinstance(self.target, ServerSideCopyStore) and self.target.can_copy_from(self.source)
        )
        self.service_digest = not self.read_back and isinstance(self.target, ServiceDigestStore)


class ResumingReader:
    """A source stream that survives dropped connections: on a read error it reopens the object at the
    current offset (a ranged read) instead of failing the whole transfer."""

    def __init__(self, store: Store, key: str, retries: int = 5, stream: BinaryIO | None = None) -> None:
        self._store, self._key, self._retries = store, key, retries
        self._position = 0
        self._stream: BinaryIO | None = stream if stream is not None else store.open(key)

    def read(self, size: int) -> bytes:
        for attempt in range(self._retries + 1):
            try:
                if self._stream is None:
                    self._stream = self._store.open(self._key, self._position)
                data = self._stream.read(size)
                self._position += len(data)
                return data
            except StoreError:
                raise
            except Exception:
                if attempt == self._retries:
                    raise
                self._drop()
                time.sleep(min(5.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._drop()


def read_exact(
    stream: ResumingReader,
    size: int,
    ctx: Context,
    hasher: hashlib._Hash | None = None,
    md5: hashlib._Hash | None = None,
) -> bytes:
    """Read exactly `size` bytes (throttled); fewer means the source changed or the stream broke. What is asked of
    the stream is all that is missing, so a store that can hands the part over in one piece, copied once; each piece
    goes through `hasher` and `md5` once."""
    chunks: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            raise TransientError(f"source stream ended after {got} of {size} bytes")
        ctx.bandwidth.take(len(chunk))
        ctx.on_bytes(len(chunk))
        if hasher is not None:
            hasher.update(chunk)
        if md5 is not None:
            md5.update(chunk)
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one copy of the part, not two


def check_properties(ctx: Context, expected: ObjectInfo, actual: ObjectInfo) -> str | None:
    """None when `actual` holds every property of `expected` this pair carries; else what differs."""
    found = differences(expected, actual, ctx.properties.carried)
    return "; ".join(found) if found else None


def object_metadata(info: ObjectInfo, sha256: str) -> dict[str, str]:
    metadata = {k: v for k, v in (info.metadata or {}).items() if k != SHA256_KEY}
    metadata[SHA256_KEY] = sha256
    return metadata


def fetch(store: Store, key: str, one_request: bool) -> tuple[ObjectInfo | None, BinaryIO | None]:
    """Info and stream of an object, in one request where the store can (`one_request`, a FetchStore);
    (None, None) when it is missing."""
    if one_request:
        assert isinstance(store, FetchStore)
        try:
            return store.fetch(key)
        except ObjectMissing:
            return None, None
    info = store.head(key)
    return (info, store.open(key)) if info is not None else (None, None)


def describe(ctx: Context, key: str, listed_size: int, listed_version: str) -> ObjectInfo:
    """The source object with content type and metadata (a head when the listing did not carry them)."""
    head = ctx.source.head(key)
    if head is None:
        raise StoreError(f"{key}: no longer in the source")
    if (head.size, head.version) != (listed_size, listed_version):
        raise TransientError(f"{key}: changed in the source since it was listed")
    return head


class Copied(NamedTuple):
    """One object written: our SHA-256 of its content, the source's info, the proof the write gave of the bytes
    (WriteResult.proof; None for server-side copies, whose bytes never pass through us: read back), the target's
    version our write returned, and our MD5 (base64) of the bytes of a single PUT to a ServiceDigestStore."""

    sha: str
    info: ObjectInfo
    proof: str | None
    version: str
    md5: str | None = None


def copy_object(ctx: Context, key: str, size: int, version: str, tag: str) -> Copied:
    """Copy one object with its properties and record it in the state under the change `tag` (not yet verified)."""
    target = ctx.target
    md5 = None
    if ctx.copy_target:
        assert isinstance(target, ServerSideCopyStore)
        info = describe(ctx, key, size, version)
        sha = hash_stream(ctx, ctx.source, key, size)
        headers = headers_to_carry(info, target.features)
        result = target.copy_from(ctx.source, info, key, info.content_type, object_metadata(info, sha), headers)
    elif ctx.multipart_target and size > ctx.part_size:
        assert isinstance(target, MultipartStore)
        info = describe(ctx, key, size, version)
        sha, result = _multipart(ctx, target, info)
    else:
        ctx.buffers.acquire()
        try:
            hasher = hashlib.sha256()
            found, raw = fetch(ctx.source, key, ctx.fetch_source)
            if found is None or raw is None:
                raise StoreError(f"{key}: no longer in the source")
            if (found.size, found.version) != (size, version):
                raw.close()
                raise TransientError(f"{key}: changed in the source since it was listed")
            info = found
            stream = ResumingReader(ctx.source, key, stream=raw)
            md5 = hashlib.md5(usedforsecurity=False) if ctx.service_digest else None
            try:
                data = read_exact(stream, size, ctx, hasher, md5)
            finally:
                stream.close()
            sha = hasher.hexdigest()
            headers = headers_to_carry(info, target.features)
            result = target.write(key, io.BytesIO(data), size, info.content_type, object_metadata(info, sha), headers)
        finally:
            ctx.buffers.release()
    ctx.state.record_copied(key, size, tag, sha, result.version)
    ours = base64.b64encode(md5.digest()).decode() if md5 is not None else None
    return Copied(sha, info, None if ctx.copy_target else result.proof, result.version, ours)


def hash_stream(
    ctx: Context, store: Store, key: str, size: int, count: bool = True, stream: BinaryIO | None = None
) -> str:
    """Our SHA-256 of an object, read as a stream (for verification and server-side copies)."""
    hasher = hashlib.sha256()
    reader = ResumingReader(store, key, stream=stream)
    try:
        seen = 0
        while chunk := reader.read(_CHUNK):
            ctx.bandwidth.take(len(chunk))
            if count:
                ctx.on_bytes(len(chunk))
            hasher.update(chunk)
            seen += len(chunk)
    finally:
        reader.close()
    if seen != size:
        raise TransientError(f"{key}: read {seen} bytes, expected {size}")
    return hasher.hexdigest()


def _multipart(ctx: Context, target: MultipartStore, info: ObjectInfo) -> tuple[str, WriteResult]:
    key, size = info.key, info.size
    part_size = max(ctx.part_size, target.min_part_size, math.ceil(size / target.max_parts))
    parts = math.ceil(size / part_size)
    done: dict[int, str] = {}
    record = ctx.state.upload(key)
    upload_id = None
    if record is not None:
        if (record.size, record.src_version, record.part_size) == (size, info.version, part_size):
            present = target.parts_present(key, record.upload_id, part_size)
            if present is not None:
                upload_id = record.upload_id
                done = {n: sha for n, sha in record.parts.items() if n in present}
        if upload_id is None:
            target.abort_upload(key, record.upload_id)
            ctx.state.end_upload(key)
    if upload_id is None:
        upload_id = target.begin_upload(key, size)
        ctx.state.begin_upload(key, upload_id, part_size, size, info.version)

    hasher = hashlib.sha256()
    errors: list[BaseException] = []  # appended by send(): checked once per part, never by scanning every part sent
    pool = ThreadPoolExecutor(max_workers=max(1, target.part_concurrency), thread_name_prefix="part")

    def send(number: int, data: bytes, prefix_sha: str) -> None:
        try:
            target.upload_part(key, upload_id, number, part_size, data)
            ctx.state.record_part(key, number, prefix_sha)
        except BaseException as error:
            errors.append(error)
        finally:
            ctx.buffers.release()

    stale = False
    stream = ResumingReader(ctx.source, key)
    try:
        for number in range(1, parts + 1):
            length = min(part_size, size - (number - 1) * part_size)
            ctx.buffers.acquire()
            try:
                data = read_exact(stream, length, ctx, hasher)
            except BaseException:
                ctx.buffers.release()
                raise
            # SHA-256 of the object's bytes up to the end of this part: a resumed part is kept only if everything
            # before it is unchanged, and it costs no second pass over the bytes.
            prefix_sha = hasher.copy().hexdigest()
            if number in done:
                ctx.buffers.release()
                if done[number] != prefix_sha:  # the source changed: these parts belong to another content
                    stale = True
                    raise TransientError(f"{key}: source changed since its upload began; starting over")
                ctx.on_resumed_part()
                continue
            pool.submit(send, number, data, prefix_sha)
            del data
            if errors:
                raise errors[0]
    finally:
        stream.close()
        pool.shutdown(wait=True)
        if stale:  # once no part is in flight: drop the old parts on the server (S3 keeps them until aborted)
            target.abort_upload(key, upload_id)
            ctx.state.end_upload(key)
    if errors:
        raise errors[0]
    sha = hasher.hexdigest()
    headers = headers_to_carry(info, ctx.target.features)
    result = target.complete_upload(key, upload_id, parts, size, info.content_type, object_metadata(info, sha), headers)
    ctx.state.end_upload(key)
    return sha, result
