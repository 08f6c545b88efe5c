"""`az://container/prefix`: Azure Blob Storage (and Azurite).

The hot path (listing, GET, ranged reads, HEAD, single-request PUTs) runs on obstore (Rust object_store);
azure-storage-blob is imported only for what obstore lacks: block uploads whose staged blocks another process can
find and resume (a large blob), and server-side copies; azure-identity only for DefaultAzureCredential.

Credentials: the connection string in the environment variable named by `?connection_env=` (default
AZURE_STORAGE_CONNECTION_STRING); without one, `?account=NAME` (or `?endpoint=URL`) and DefaultAzureCredential.
obstore 0.12 sends no Content-MD5 with a PUT and shows none, but Put Blob stores the MD5 the service computed of
the body it received and List Blobs returns it: a batch of single PUTs is proven from one SDK listing with every
property (`list_digests`), and an object that listing does not prove is read back. Blocks staged through the SDK
carry our MD5 and the service refuses a block whose bytes do not match.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import unquote
from xml.etree import ElementTree

import obstore
from obstore.exceptions import BaseError, InvalidPathError, NotFoundError, PermissionDeniedError, UnauthenticatedError
from obstore.store import AzureStore as _ObjectStore
from opcloud.migrate.buckets.sameobject import CONTENT_MD5, WITHOUT_MD5, Features
from opcloud.migrate.stores import objectstore
from opcloud.migrate.stores.base import (
    TARGET_CHECKED,
    ListedDigest,
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreError,
    WriteResult,
    after_start,
    before_stop,
)
from opcloud.migrate.stores.keys import KeyCodec, KeyRules
from opcloud.migrate.stores.metakeys import AZURE_KEYS
from opcloud.migrate.stores.url import StoreURL

from opcloud.errors import ConnectionFailed, InputError

_MAX_NAME_CHARS = 1024
_MAX_SEGMENTS = 254
# System headers (sameobject names) and their ContentSettings fields (SDK paths: block commits, copies).
_HEADERS = {
    "content-disposition": "content_disposition",
    "cache-control": "cache_control",
    "content-language": "content_language",
    "content-encoding": "content_encoding",
}
# System headers (sameobject names) and their elements in List Blobs' XML.
_LISTED_HEADERS = {
    "content-disposition": "Content-Disposition",
    "cache-control": "Cache-Control",
    "content-language": "Content-Language",
    "content-encoding": "Content-Encoding",
}
_RETRY: dict[str, Any] = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
_CLIENT: dict[str, Any] = {"connect_timeout": "10s", "timeout": "300s", "pool_max_idle_per_host": "64"}


def _connection_fields(connection: str, env: str, url: str) -> dict[str, str]:
    fields = dict(part.split("=", 1) for part in connection.split(";") if "=" in part)
    if "AccountName" not in fields or not ("AccountKey" in fields or "SharedAccessSignature" in fields):
        raise InputError(f"the connection string in ${env} is malformed (for {url})")
    return fields


def _content_settings(content_type: str | None, headers: Mapping[str, str] | None) -> Any:
    from azure.storage.blob import ContentSettings

    given = dict(headers or {})
    carried: dict[str, Any] = {field: given.get(name) for name, field in _HEADERS.items()}
    settings = ContentSettings(content_type=content_type, **carried)
    if given.get(CONTENT_MD5):
        settings.content_md5 = bytearray(base64.b64decode(given[CONTENT_MD5]))
    return settings


def _sdk_options() -> dict[str, Any]:
    from azure.storage.blob import ExponentialRetry

    return {
        # Bounded memory per read: the SDK fetches the first 32 MiB in one go by default.
        "max_single_get_size": 4 * 1024 * 1024,
        "max_chunk_get_size": 4 * 1024 * 1024,
        # The engine retries whole objects/parts itself, so the SDK's own retries stay short.
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
        "connection_timeout": 10,
        "read_timeout": 60,
    }


class AzureStore:
    min_part_size = 1
    max_parts = 50_000
    part_concurrency = 4

    def __init__(self, url: StoreURL) -> None:
        self.url = url.redacted()
        self.container_name = url.netloc_host
        self.prefix = url.prefix
        self.features = Features(
            # obstore shows no Content-MD5 (neither in a GET, a HEAD nor a listing): it is neither carried nor
            # compared; it is a function of the bytes, which are always compared (SHA-256).
            holds=WITHOUT_MD5,
            # The service folds `\` to `/` and drops trailing dots; names are encoded (keys.py) and decoded back.
            keys=KeyRules(
                codec=KeyCodec(),
                max_chars=_MAX_NAME_CHARS - len(self.prefix),
                max_segments=_MAX_SEGMENTS,
                object_store_paths=True,
            ),
            listing_sees_metadata_changes=True,  # a change of metadata or headers changes the ETag
            metadata_keys=AZURE_KEYS,  # names must be C# identifiers: others are mapped, restored on reading
        )
        env = url.params.get("connection_env", "AZURE_STORAGE_CONNECTION_STRING")
        self._connection = os.environ.get(env)
        self._account_key: str | None = None
        self._credential: Any = None
        config: dict[str, Any] = {}
        provider = None
        if self._connection:
            fields = _connection_fields(self._connection, env, self.url)
            self.account = fields["AccountName"]
            self._account_key = fields.get("AccountKey")
            protocol = fields.get("DefaultEndpointsProtocol", "https")
            suffix = fields.get("EndpointSuffix", "core.windows.net")
            self.endpoint = fields.get("BlobEndpoint") or f"{protocol}://{self.account}.blob.{suffix}"
            if self._account_key:
                config["account_key"] = self._account_key
            else:
                config["sas_key"] = fields["SharedAccessSignature"]
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
            from obstore.auth.azure import AzureCredentialProvider

            self._credential = DefaultAzureCredential()
            provider = AzureCredentialProvider(self._credential)
            self.endpoint = endpoint or f"https://{account}.blob.core.windows.net"
            self.account = account or self.endpoint.split("//", 1)[-1].split(".", 1)[0]
        self.endpoint = self.endpoint.rstrip("/")
        config.update(account_name=self.account, endpoint=self.endpoint)
        client = {**_CLIENT, "allow_http": self.endpoint.startswith("http://")}
        try:
            self.store = _ObjectStore(
                self.container_name,
                config=config,  # type: ignore[arg-type]
                client_options=client,  # type: ignore[arg-type]
                retry_config=_RETRY,  # type: ignore[arg-type]
                credential_provider=provider,
            )
        except (BaseError, ValueError):
            raise InputError(f"bad Azure settings for {self.url} (the connection string or endpoint)") from None
        self._service: Any = None

    @property
    def service(self) -> Any:
        """azure-storage-blob's client, made on first use (block uploads, copies): a small copy never loads it."""
        if self._service is None:
            from azure.storage.blob import BlobServiceClient

            if self._connection:
                self._service = BlobServiceClient.from_connection_string(self._connection, **_sdk_options())
            else:
                self._service = BlobServiceClient(self.endpoint, credential=self._credential, **_sdk_options())
        return self._service

    def _name(self, key: str) -> str:
        return self.prefix + self.features.keys.encode(key)

    def _blob(self, key: str) -> Any:
        return self.service.get_container_client(self.container_name).get_blob_client(self._name(key))

    def check(self) -> None:
        try:
            next(iter(obstore.list(self.store, self.prefix or None, chunk_size=1)), None)
        except InvalidPathError:
            return  # it answered with a name object_store cannot address: the listing handles that
        except (PermissionDeniedError, UnauthenticatedError):
            raise ConnectionFailed(f"access to {self.url} refused: check the connection string or identity") from None
        except BaseError as error:
            text = str(error)
            if "ContainerNotFound" in text or "404 Not Found" in text:
                raise InputError(f"container {self.container_name!r} does not exist at {self.url}") from None
            if "403 Forbidden" in text or "401 Unauthorized" in text:
                raise ConnectionFailed(f"access to {self.url} refused: check the connection string") from None
            if "error sending request" in text or "timed out" in text:
                raise ConnectionFailed(f"cannot reach the blob endpoint of {self.url}") from None
            raise ConnectionFailed(f"{self.url}: {objectstore.describe_error(error)}") from None

    def _info(self, key: str, result: Any) -> ObjectInfo:
        return objectstore.info(key, result.meta, result.attributes, AZURE_KEYS)

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Keys under `prefix` with start_after < key < stop_before. The service lists encoded names: their
        order is not the keys' where the encoding changed a character, so the bounds are applied to the decoded
        keys, and only the part of `start_after` no encoding touches is pushed down to the service."""
        keys = self.features.keys
        # Encoding depends on where a character stands in its segment: list from the last whole segment.
        folder = prefix.rpartition("/")[0] + "/" if "/" in prefix else ""
        offset = None
        if start_after:
            safe = _unencoded_head(start_after)
            offset = self.prefix + safe if safe else None
        # Through the SDK: object_store folds a leading or trailing `/` of a blob name away when it lists (`dir/`
        # comes back as `dir`, silently), which would fold two blobs onto one key. Reads and writes stay on it.
        for blob in self._listed_blobs(self.prefix + keys.encode(folder), offset):
            props = blob.find("Properties")
            size = int(props.findtext("Content-Length") or 0) if props is not None else 0
            etag = (props.findtext("Etag") or "").strip('"') if props is not None else ""
            yield from self._selected((_xml_name(blob), size, etag), prefix, start_after, stop_before)

    def _listed_blobs(
        self, prefix: str, start_from: str | None = None, metadata: bool = False
    ) -> Iterator[ElementTree.Element]:
        """The blobs under `prefix` (from `start_from`, where the service honours it) as List Blobs' XML elements,
        page by page, through the SDK. Its `list_blobs` turns every blob into a model (~0.2 ms of CPU a blob, more
        than the rest of a small object's copy), so the pages come from its names-only listing, which parses no
        properties, and each page's XML, handed over by azure-core's `raw_response_hook`, is read with ElementTree."""
        container = self.service.get_container_client(self.container_name)
        pages: list[bytes] = []

        def keep_page(response: Any) -> None:
            if response.http_response.status_code == 200:
                pages.append(response.http_response.body())

        options: dict[str, Any] = {"start_from": start_from} if start_from else {}
        if metadata:
            options["include"] = ["metadata"]
        listing = container.list_blob_names(name_starts_with=prefix, raw_response_hook=keep_page, **options)
        for _ in listing.by_page():
            if not pages:
                raise StoreError(f"{self.url}: a listing page came without its XML")
            page = pages[-1]
            pages.clear()
            yield from ElementTree.fromstring(page).iterfind("Blobs/Blob")

    def _selected(
        self, entry: tuple[str, int, str], prefix: str, start_after: str | None, stop_before: str | None
    ) -> Iterator[ObjectInfo]:
        """The listed blob (name, size, ETag) as an object, when its decoded key is in the range asked for."""
        key = self.features.keys.decode(entry[0][len(self.prefix) :])
        if key.startswith(prefix) and after_start(key, start_after) and before_stop(key, stop_before):
            yield ObjectInfo(key=key, size=entry[1], version=entry[2])

    def list_digests(self, keys: Sequence[str]) -> dict[str, ListedDigest]:
        """The blobs of `keys` from one listing (metadata included) of the names they span, through the SDK like
        every listing; it stops once all are found or past the highest name in either order a service may sort
        by (UTF-8 bytes as Azure, UTF-16 units as Azurite). A key not found is left out: not proven.

        Its pages are read with ElementTree, as `list`'s are (`_listed_blobs`)."""
        names = {self._name(key): key for key in keys}
        if not names:
            return {}
        lowest, highest = min(names), max(names)
        listing = self._listed_blobs(_shared_start(lowest, highest), start_from=lowest, metadata=True)
        found: dict[str, ListedDigest] = {}
        for blob in listing:
            name = _xml_name(blob)
            key = names.get(name)
            if key is not None:
                found[key] = _listed(key, blob)
                if len(found) == len(names):
                    break
            elif name > highest and name.encode("utf-16-be") > highest.encode("utf-16-be"):
                break
        return found

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        """The common prefixes right under `prefix` (ending with `delimiter`), relative to the store."""
        if delimiter != "/":
            raise StoreError("object_store lists by `/` only")
        skip = len(self.prefix)
        keys = self.features.keys
        folder = self.prefix + keys.encode(prefix.rpartition("/")[0] + "/" if "/" in prefix else "")
        container = self.service.get_container_client(self.container_name)  # the SDK, for the reason `list` gives
        walked = container.walk_blobs(name_starts_with=folder, delimiter="/")
        names = [str(item.name) for item in walked if str(item.name).endswith("/")]
        found = (keys.decode(name[skip:].removesuffix("/")) + "/" for name in names)
        yield from sorted(p for p in found if p.startswith(prefix))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return self._info(key, objectstore.get(self.store, self._name(key), key, head=True))
        except ObjectMissing:
            return None

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        try:
            result = objectstore.get(self.store, self._name(key), key, offset=offset)
        except ObjectMissing:
            raise StoreError(f"{key}: no longer in the source") from None
        return objectstore.Reader(result)  # type: ignore[return-value]

    def fetch(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """Properties and body in one GET (saves a request per object); the bytes come as stored (no gzip
        decoding: a Content-Encoding is a property we carry)."""
        result = objectstore.get(self.store, self._name(key), key)
        return self._info(key, result), objectstore.Reader(result)  # type: ignore[return-value]

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        reply = obstore.put(
            self.store,
            self._name(key),
            objectstore.body(data, size, key),
            attributes=objectstore.attributes(content_type, metadata, headers, AZURE_KEYS),
            use_multipart=False,
        )
        return WriteResult(version=str(reply["e_tag"] or "").strip('"'))

    def delete(self, key: str) -> None:
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self.store, self._name(key))

    def close(self) -> None:
        if self._service is not None:
            self._service.close()

    # -- block uploads through the SDK (resumable: uncommitted blocks survive the writer) ------------

    @staticmethod
    def _block_id(upload_id: str, number: int) -> str:
        return base64.b64encode(f"{upload_id}-{number:08d}".encode()).decode()

    def begin_upload(self, key: str, size: int) -> str:
        return uuid.uuid4().hex[:16]

    def parts_present(self, key: str, upload_id: str, part_size: int) -> set[int] | None:
        from azure.core.exceptions import ResourceNotFoundError

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
        # validate_content: our MD5 goes with the block and the service refuses bytes that do not match it.
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
        from azure.core.exceptions import HttpResponseError
        from azure.storage.blob import BlobBlock

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
        # Every block was checked against our MD5 when it was staged: the committed blob holds our bytes.
        return WriteResult(version=str(reply["etag"]).strip('"'), proof=TARGET_CHECKED)

    def abort_upload(self, key: str, upload_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        # Uncommitted blocks cannot be deleted one by one. Where no committed blob exists, deleting the blob drops
        # them; next to a committed blob they stay until its next commit, or a week (Azure's garbage collection).
        blob = self._blob(key)
        try:
            blob.get_blob_properties()
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceNotFoundError):
                blob.delete_blob()

    # -- server-side copy within one account (SDK) ----------------------------------------------------

    def can_copy_from(self, source: Store) -> bool:
        return isinstance(source, AzureStore) and source.endpoint == self.endpoint and source._account_key is not None

    def copy_from(
        self,
        source: Store,
        src: ObjectInfo,
        key: str,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        from azure.core import MatchConditions
        from azure.storage.blob import generate_blob_sas

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


def _shared_start(lowest: str, highest: str) -> str:
    """The longest start shared by two names: every name between them shares it too."""
    for position, (low, high) in enumerate(zip(lowest, highest, strict=False)):
        if low != high:
            return lowest[:position]
    return lowest if len(lowest) <= len(highest) else highest


def _xml_name(blob: ElementTree.Element) -> str:
    """A listed blob's name; the service percent-encodes one XML cannot carry (Encoded="true")."""
    name = blob.find("Name")
    if name is None:
        return ""
    text = name.text or ""
    return unquote(text) if name.get("Encoded") == "true" else text


def _listed(key: str, blob: ElementTree.Element) -> ListedDigest:
    """A listed blob (List Blobs' XML) as a HEAD through obstore describes it (objectstore.info), with the MD5 the
    service holds."""
    props = blob.find("Properties")
    if props is None:
        props = ElementTree.Element("Properties")

    def prop(name: str) -> str | None:
        return props.findtext(name) or None

    headers = {header: value for header, field in _LISTED_HEADERS.items() if (value := prop(field))}
    metadata = blob.find("Metadata")
    stored = {entry.tag: entry.text or "" for entry in metadata} if metadata is not None else {}
    info = ObjectInfo(
        key=key,
        size=int(prop("Content-Length") or 0),
        version=(prop("Etag") or "").strip('"'),
        content_type=prop("Content-Type"),
        metadata=AZURE_KEYS.from_stored(stored),
        headers=headers,
    )
    return ListedDigest(info=info, md5=prop("Content-MD5"))


# Characters the key encoding never changes, wherever they stand (keys.py): a start-after made of them names a
# point in the service's order that no key after it sorts before.
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-_")


def _unencoded_head(key: str) -> str:
    """The longest start of `key` made of characters the encoding leaves alone and the service sorts below every
    encoded look-alike (all ASCII): listing after it never skips a key after `key`."""
    for position, char in enumerate(key):
        if char not in _SAFE:
            return key[:position]
    return key
