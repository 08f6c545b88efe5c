"""`az://container/prefix`: Azure Blob Storage (and Azurite) through azure-storage-blob.

Credentials: the connection string in the environment variable named by `?connection_env=` (default
AZURE_STORAGE_CONNECTION_STRING); without one, `?account=NAME` (or `?endpoint=URL`) and DefaultAzureCredential.
Large blobs are written as blocks: staged blocks stay on the server (uncommitted) after a crash, so an upload
resumes with the blocks already there.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import unquote

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
    generate_blob_sas,
)
from azure.storage.blob._deserialize import load_many_xml_nodes
from azure.storage.blob._list_blobs_helper import IgnoreListBlobsDeserializer
from azure.storage.blob._shared.response_handlers import process_storage_error, return_raw_deserialized
from opcloud.migrate.buckets.sameobject import ALL_PROPERTIES, CONTENT_MD5, Features
from opcloud.migrate.stores.base import ObjectInfo, Store, StoreError, WriteResult, after_start, before_stop
from opcloud.migrate.stores.keys import KeyCodec, KeyRules
from opcloud.migrate.stores.metakeys import AZURE_KEYS
from opcloud.migrate.stores.url import StoreURL

from opcloud.errors import ConnectionFailed, InputError

_CLIENT_OPTIONS: dict[str, Any] = {
    # Bounded memory per read: the SDK fetches the first 32 MiB in one go by default.
    "max_single_get_size": 4 * 1024 * 1024,
    "max_chunk_get_size": 4 * 1024 * 1024,
    # The SDK's default backoff (15 s, x3) stalls a transfer for minutes on one dropped connection; the engine
    # retries whole objects/parts itself, so the SDK's own retries stay short.
    "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
    "connection_timeout": 10,
    "read_timeout": 60,
}


_MAX_NAME_CHARS = 1024
_MAX_SEGMENTS = 254
# System headers (sameobject names) and their ContentSettings fields.
_HEADERS = {
    "content-disposition": "content_disposition",
    "cache-control": "cache_control",
    "content-language": "content_language",
    "content-encoding": "content_encoding",
}


def _content_settings(content_type: str | None, headers: Mapping[str, str] | None) -> ContentSettings:
    given = dict(headers or {})
    carried: dict[str, Any] = {field: given.get(name) for name, field in _HEADERS.items()}
    settings = ContentSettings(content_type=content_type, **carried)
    if given.get(CONTENT_MD5):
        settings.content_md5 = bytearray(base64.b64decode(given[CONTENT_MD5]))
    return settings


def _headers(settings: Any) -> dict[str, str]:
    found = {name: getattr(settings, field) for name, field in _HEADERS.items() if getattr(settings, field, None)}
    if getattr(settings, "content_md5", None):
        found[CONTENT_MD5] = base64.b64encode(bytes(settings.content_md5)).decode()
    return found


class _Reader:
    """File-like view (read(n)) of a blob download, fetched chunk by chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._buffer = b""


def _listing(container: ContainerClient, prefix: str, start_from: str | None = None) -> Iterator[tuple[str, int, str]]:
    """(name, size, ETag) of every blob under `prefix`, page by page.

    `list_blobs` turns each blob into a model object through the SDK's generic deserializer, ~0.3 ms a blob:
    five minutes of CPU for a million. This is how the SDK's own `list_blob_names` avoids that (the same
    generated client with the generic deserializer switched off, pages read with ElementTree), plus the two
    properties the engine needs. It rests on SDK internals, hence the <13 pin; the store conformance suite runs
    it against Azurite. `start_from` (inclusive, a newer service parameter) only saves pages: a service that
    ignores it (Azurite) lists from the prefix, and the caller filters by key either way."""
    client = container._build_generated_client()  # type: ignore[attr-defined]  # SDK internal, untyped
    client.container._deserialize = IgnoreListBlobsDeserializer()
    marker: str | None = None
    while True:
        try:
            _, page = client.container.list_blob_flat_segment(
                prefix=prefix, marker=marker, start_from=start_from if marker is None else None,
                cls=return_raw_deserialized,
            )
        except HttpResponseError as error:
            process_storage_error(error)
        for blob in load_many_xml_nodes(page, "Blob", wrapper="Blobs"):
            if blob is None:
                continue
            name = blob.find("Name")
            props = blob.find("Properties")
            if name is None or props is None:
                continue
            text = name.text or ""
            yield (
                unquote(text) if name.get("Encoded") == "true" else text,
                int(props.findtext("Content-Length") or 0),
                (props.findtext("Etag") or "").strip('"'),
            )
        marker = page.findtext("NextMarker")
        if not marker:
            return


def _encoded_floor(start_after: str) -> str:
    """An encoded name at or before the encoded name of every key after `start_after`: the longest head of it
    that encodes to itself whatever follows (encoding replaces characters by larger ones, and a look-alike from
    U+201B up gets a quote U+201B in front; a dot or space is encoded at a segment's end)."""
    for index, char in enumerate(start_after):
        if char in "\\\x7f. " or char < " " or char >= "\u201b":
            return start_after[:index]
    return start_after


class AzureStore:
    min_part_size = 1
    max_parts = 50_000
    part_concurrency = 4
    checks_content_md5 = True  # writes and blocks go with validate_content: the service checks our MD5

    def __init__(self, url: StoreURL) -> None:
        self.url = url.redacted()
        self.container_name = url.netloc_host
        self.prefix = url.prefix
        self.features = Features(
            holds=ALL_PROPERTIES,
            # The service folds `\` to `/` and drops trailing dots; names are encoded (keys.py) and decoded back.
            keys=KeyRules(codec=KeyCodec(), max_chars=_MAX_NAME_CHARS - len(self.prefix), max_segments=_MAX_SEGMENTS),
            listing_sees_metadata_changes=True,  # a change of metadata or headers changes the ETag
            metadata_keys=AZURE_KEYS,  # names must be C# identifiers: others are mapped, restored on reading
        )
        env = url.params.get("connection_env", "AZURE_STORAGE_CONNECTION_STRING")
        connection = os.environ.get(env)
        self._account_key: str | None = None
        if connection:
            try:
                self.service = BlobServiceClient.from_connection_string(connection, **_CLIENT_OPTIONS)
            except ValueError:
                raise InputError(f"the connection string in ${env} is malformed (for {self.url})") from None
            fields = dict(p.split("=", 1) for p in connection.split(";") if "=" in p)
            self._account_key = fields.get("AccountKey")
        elif "connection_env" in url.params:
            raise InputError(f"environment variable {env} (connection_env of {self.url}) is not set")
        else:
            endpoint = url.params.get("endpoint")
            account = url.params.get("account")
            if not endpoint and not account:
                raise InputError(
                    f"{self.url}: set AZURE_STORAGE_CONNECTION_STRING, ?connection_env=VAR, or ?account=NAME "
                    "for DefaultAzureCredential"
                )
            from azure.identity import DefaultAzureCredential

            account_url = endpoint or f"https://{account}.blob.core.windows.net"
            self.service = BlobServiceClient(account_url, credential=DefaultAzureCredential(), **_CLIENT_OPTIONS)
        self.account = self.service.account_name
        self.container = self.service.get_container_client(self.container_name)

    def _blob(self, key: str) -> Any:
        return self.container.get_blob_client(self.prefix + self.features.keys.encode(key))

    def check(self) -> None:
        try:
            self.container.get_container_properties()
        except ResourceNotFoundError:
            raise InputError(f"container {self.container_name!r} does not exist at {self.url}") from None
        except ClientAuthenticationError:
            raise ConnectionFailed(f"access to {self.url} refused: check the connection string or identity") from None
        except ServiceRequestError:
            raise ConnectionFailed(f"cannot reach the blob endpoint of {self.url}") from None
        except HttpResponseError as error:
            if error.status_code in (401, 403):
                raise ConnectionFailed(f"access to {self.url} refused: check the connection string") from None
            raise ConnectionFailed(f"{self.url}: HTTP {error.status_code}") from None
        except AzureError as error:
            raise ConnectionFailed(f"{self.url}: {type(error).__name__}") from None

    @staticmethod
    def _info(key: str, props: Any) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(props.size),
            version=str(props.etag).strip('"'),
            content_type=props.content_settings.content_type,
            metadata=AZURE_KEYS.from_stored(props.metadata or {}),
            headers=_headers(props.content_settings),
        )

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Keys in the range exactly; ascending, except that the service orders by encoded name, so a key with a
        character it would change (backslash, a control character, a trailing dot or space: keys.py) comes in
        its encoded name's place. For the same reason the listing cannot stop at `stop_before` and reads on to
        the end of the folder of `prefix`: shard by folder prefixes on Azure where folders are large."""
        skip = len(self.prefix)
        keys = self.features.keys
        # Encoding depends on where a character stands in its segment: list from the last whole segment.
        folder = prefix.rpartition("/")[0] + "/" if "/" in prefix else ""
        start = _encoded_floor(start_after) if start_after is not None else ""
        start_from = self.prefix + start if start > keys.encode(folder) else None
        for name, size, etag in _listing(self.container, self.prefix + keys.encode(folder), start_from):
            key = keys.decode(name[skip:])
            if key.startswith(prefix) and after_start(key, start_after) and before_stop(key, stop_before):
                yield ObjectInfo(key=key, size=size, version=etag)

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        if delimiter != "/":
            raise StoreError(f"keys on Azure are encoded per '/' segment: cannot split at {delimiter!r}")
        skip = len(self.prefix)
        keys = self.features.keys
        folder = prefix.rpartition("/")[0] + "/" if "/" in prefix else ""
        found = []
        walk = self.container.walk_blobs(name_starts_with=self.prefix + keys.encode(folder), delimiter="/")
        for page in walk.by_page():
            for item in page:
                if item.name.endswith("/"):  # a BlobPrefix: one level down
                    decoded = keys.decode(item.name[skip:])
                    if decoded.startswith(prefix):
                        found.append(decoded)
        yield from sorted(found)  # decoded names can sort differently from encoded ones

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return self._info(key, self._blob(key).get_blob_properties())
        except ResourceNotFoundError:
            return None

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        try:
            downloader = self._blob(key).download_blob(offset=offset or None, max_concurrency=1, decompress=False)
        except ResourceNotFoundError:
            raise StoreError(f"{key}: no longer in the source") from None
        return _Reader(downloader.chunks())  # type: ignore[return-value]

    def fetch(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """Properties and body in one GET (saves a request per object)."""
        try:
            # decompress=False: a gzip Content-Encoding is a property we carry; the bytes are copied as stored.
            downloader = self._blob(key).download_blob(max_concurrency=1, decompress=False)
        except ResourceNotFoundError:
            raise StoreError(f"{key}: not found") from None
        return self._info(key, downloader.properties), _Reader(downloader.chunks())  # type: ignore[return-value]

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        reply = self._blob(key).upload_blob(
            data,
            length=size,
            overwrite=True,
            metadata=AZURE_KEYS.to_stored(metadata),
            content_settings=_content_settings(content_type, headers),
            max_concurrency=1,
            validate_content=True,
        )
        return WriteResult(version=str(reply["etag"]).strip('"'))

    def delete(self, key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._blob(key).delete_blob()

    def close(self) -> None:
        self.service.close()

    # -- block uploads (resumable: uncommitted blocks survive the writer) ---------------------------

    @staticmethod
    def _block_id(upload_id: str, number: int) -> str:
        return base64.b64encode(f"{upload_id}-{number:08d}".encode()).decode()

    def begin_upload(self, key: str, size: int) -> str:
        return uuid.uuid4().hex[:16]

    def parts_present(self, key: str, upload_id: str, part_size: int) -> set[int] | None:
        try:
            _, uncommitted = self._blob(key).get_block_list("uncommitted")
        except ResourceNotFoundError:
            return set()
        present: set[int] = set()
        for block in uncommitted:
            name = base64.b64decode(block.id).decode(errors="replace")
            token, _, number = name.rpartition("-")
            if token == upload_id and number.isdigit() and int(block.size) <= part_size:
                present.add(int(number))
        return present

    def upload_part(self, key: str, upload_id: str, number: int, part_size: int, data: bytes) -> None:
        self._blob(key).stage_block(self._block_id(upload_id, number), data, length=len(data), validate_content=True)

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
        blocks = [BlobBlock(block_id=self._block_id(upload_id, n)) for n in range(1, parts + 1)]
        try:
            reply = self._blob(key).commit_block_list(
                blocks,
                content_settings=_content_settings(content_type, headers),
                metadata=AZURE_KEYS.to_stored(metadata),
            )
        except HttpResponseError as error:
            # The storage SDK adds error_code to azure-core's error at run time.
            if getattr(error, "error_code", None) == "InvalidBlockList":
                raise StoreError(f"{key}: staged blocks are gone; the upload restarts") from None
            raise
        return WriteResult(version=str(reply["etag"]).strip('"'))

    def abort_upload(self, key: str, upload_id: str) -> None:
        # Uncommitted blocks cannot be deleted one by one. Where no committed blob exists, deleting the blob drops
        # them; next to a committed blob they stay until its next commit, or a week (Azure's garbage collection).
        blob = self._blob(key)
        try:
            blob.get_blob_properties()
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceNotFoundError):
                blob.delete_blob()

    # -- server-side copy within one account -------------------------------------------------------

    def can_copy_from(self, source: Store) -> bool:
        return (
            isinstance(source, AzureStore)
            and source.service.url == self.service.url
            and source._account_key is not None
        )

    def copy_from(
        self,
        source: Store,
        src: ObjectInfo,
        key: str,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        assert isinstance(source, AzureStore) and source._account_key and source.account
        blob = source._blob(src.key)
        sas = generate_blob_sas(
            account_name=source.account,
            container_name=source.container_name,
            blob_name=blob.blob_name,
            account_key=source._account_key,
            permission="r",
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )
        target = self._blob(key)
        target.start_copy_from_url(
            f"{blob.url}?{sas}",
            metadata=AZURE_KEYS.to_stored(metadata),
            source_etag=src.version,
            source_match_condition=MatchConditions.IfNotModified,
        )
        while True:  # an asynchronous copy: wait until the service says it is done
            props = target.get_blob_properties()
            status = props.copy.status
            if status == "success":
                break
            if status in ("failed", "aborted"):
                raise StoreError(f"{key}: server-side copy {status}")
            time.sleep(0.2)
        reply = target.set_http_headers(content_settings=_content_settings(content_type, headers))
        return WriteResult(version=str(reply["etag"]).strip('"'))
