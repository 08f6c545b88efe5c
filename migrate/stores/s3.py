"""`s3://bucket/prefix`: AWS S3 or any S3-compatible endpoint (De Novo, MinIO, moto).

The hot path (GET, ranged reads, HEAD, single-request PUTs) runs on obstore (Rust object_store); the SDK's client
(botocore's) is made only for what obstore lacks: listings (object_store folds `dir/` onto `dir`), multipart
uploads whose id another process can find and resume or abort, server-side copies that replace metadata, and keys
object_store cannot name (`a//b`, `x/`, `./`, control characters), which S3 holds. boto3 itself is imported only
for credential chains object_store does not read (`?profile=`, AWS_PROFILE, the shared credentials files) and
for copies above 5 GiB (its managed copy).

Credentials come from the standard chains (environment, web identity, container or instance role; profiles
through boto3); the URL never holds them. Every PUT carries `x-amz-checksum-sha256`; AWS refuses a body that does
not match it, so there a successful write proves its bytes. An S3-compatible endpoint may ignore that header
(moto does), so there the engine reads every object back.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import obstore
from obstore.exceptions import BaseError, InvalidPathError, NotFoundError, PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store as _ObjectStore
from opcloud.migrate.buckets.sameobject import WITHOUT_MD5, Features
from opcloud.migrate.stores import objectstore
from opcloud.migrate.stores.base import (
    TARGET_CHECKED,
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreError,
    WriteResult,
    before_stop,
)
from opcloud.migrate.stores.keys import KeyRules, object_store_problem
from opcloud.migrate.stores.metakeys import S3_KEYS
from opcloud.migrate.stores.url import StoreURL

from opcloud.errors import ConnectionFailed, InputError

_SINGLE_COPY_LIMIT = 5 * 1024**3  # copy_object's limit; larger objects need a multipart copy
_MAX_KEY_BYTES = 1024
# System headers (sameobject names) and their boto3 parameter names (multipart completion and copies).
_HEADERS = {
    "content-disposition": "ContentDisposition",
    "cache-control": "CacheControl",
    "content-language": "ContentLanguage",
    "content-encoding": "ContentEncoding",
}
# The engine retries whole objects and parts itself: object_store's own retries stay short.
_RETRY: dict[str, Any] = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
_CLIENT: dict[str, Any] = {"connect_timeout": "10s", "timeout": "300s", "pool_max_idle_per_host": "64"}


def _code(error: Any) -> str:  # a botocore ClientError
    return str(error.response.get("Error", {}).get("Code", ""))


def _client_error() -> type[Exception]:
    """botocore's ClientError, imported only where an SDK call was made (so it is loaded already)."""
    import botocore.exceptions as bex

    return bex.ClientError


def _timestamp(value: str) -> datetime:
    """A timestamp of an S3 response: ISO 8601 at C speed, any other form as botocore parses it (with tzinfo)."""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

        return DEFAULT_TIMESTAMP_PARSER(value)
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _uses_profiles(profile: str | None) -> bool:
    """Whether the credentials come from an AWS profile (object_store reads no profile or shared file)."""
    if profile or os.environ.get("AWS_PROFILE"):
        return True
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return False
    shared = [os.environ.get("AWS_SHARED_CREDENTIALS_FILE"), os.environ.get("AWS_CONFIG_FILE")]
    home = Path.home() / ".aws"
    return any(Path(p).exists() for p in shared if p) or (home / "credentials").exists() or (home / "config").exists()


class S3Store:
    min_part_size = 5 * 1024 * 1024
    max_parts = 10_000
    part_concurrency = 4

    def __init__(self, url: StoreURL) -> None:
        self.url = url.redacted()
        self.bucket = url.netloc_host
        self.prefix = url.prefix
        self.endpoint = url.params.get("endpoint")
        self.region = url.params.get("region")
        self.profile = url.params.get("profile")
        self.features = Features(
            holds=WITHOUT_MD5,  # S3 keeps no Content-MD5 header
            keys=KeyRules(max_bytes=_MAX_KEY_BYTES - len(self.prefix.encode())),
            listing_sees_metadata_changes=True,  # LastModified changes on a metadata-only copy
        )
        # Every PUT carries x-amz-checksum-sha256, but only AWS is known to refuse a body that does not match it
        # (moto accepts any): elsewhere, including an endpoint set in the environment, objects are read back.
        from_env = next((value for name, value in os.environ.items() if name.startswith("AWS_ENDPOINT")), None)
        self.checks_content_sha256 = self.endpoint is None and from_env is None
        # The checksum of single PUTs; multipart parts and copies go through boto3.
        config: dict[str, Any] = {
            "region": self.region or os.environ.get("AWS_REGION") or "us-east-1",
            "checksum_algorithm": "sha256",
        }
        client = {**_CLIENT, "allow_http": (self.endpoint or from_env or "").startswith("http://")}
        if self.endpoint:
            if not self.endpoint.startswith(("http://", "https://")):
                raise InputError(f"bad S3 endpoint in {self.url}: it must start with http:// or https://")
            config.update(endpoint=self.endpoint, virtual_hosted_style_request=False)
        self._session: Any = None
        provider = None
        if _uses_profiles(self.profile):
            provider = self._profile_credentials()
        try:
            self.store = _ObjectStore(
                self.bucket,
                config=config,  # type: ignore[arg-type]
                client_options=client,  # type: ignore[arg-type]
                retry_config=_RETRY,  # type: ignore[arg-type]
                credential_provider=provider,
            )
        except (BaseError, ValueError) as error:
            raise InputError(f"bad S3 settings in {self.url}: {objectstore.describe_error(error)}") from None
        self._client: Any = None

    def _profile_credentials(self) -> Any:
        """boto3's credential chain (profiles, SSO, shared files), handed to object_store."""
        import boto3
        import botocore.exceptions as bex
        from obstore.auth.boto3 import Boto3CredentialProvider

        try:
            self._session = boto3.session.Session(profile_name=self.profile)
            return Boto3CredentialProvider(self._session)
        except bex.ProfileNotFound:
            raise InputError(f"AWS profile {self.profile!r} not found (from {self.url})") from None
        except ValueError:
            raise ConnectionFailed(f"no AWS credentials found for {self.url} (environment, profile or role)") from None

    @property
    def client(self) -> Any:
        """The SDK's S3 client, made on first use (listings, multipart uploads, copies): a small copy never imports
        it. Made by botocore, whose client boto3's is: boto3 itself (and s3transfer) is imported only for a profile's
        credential chain and a copy larger than 5 GiB (its managed copy), ~45 ms off every run's start."""
        if self._client is None:
            import botocore.session
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=64,
                connect_timeout=10,
                read_timeout=60,
                s3={"addressing_style": "path"} if self.endpoint else {},
                # Our own SHA-256 is the integrity check; extra CRC trailers break some S3-compatible servers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            options = {"endpoint_url": self.endpoint, "region_name": self.region, "config": config}
            if self._session is not None:  # the profile's boto3 session, already made for object_store
                self._client = self._session.client("s3", **options)
            else:
                session = botocore.session.Session(profile=self.profile)
                # botocore parses every listed LastModified with dateutil (~40 us each); ISO 8601 as S3 sends it
                # needs no more than fromisoformat, and anything else still goes to botocore's own parser.
                parsers = session.get_component("response_parser_factory")
                parsers.set_parser_defaults(timestamp_parser=_timestamp)
                self._client = session.create_client("s3", **options)
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + key

    def check(self) -> None:
        try:
            next(iter(obstore.list(self.store, self.prefix or None, chunk_size=1)), None)
        except InvalidPathError:
            return  # it answered with a name object_store cannot address: the listing handles that
        except (PermissionDeniedError, UnauthenticatedError):
            raise ConnectionFailed(f"access to {self.url} refused: check the AWS credentials or profile") from None
        except BaseError as error:
            text = str(error)
            if "NoSuchBucket" in text or "404 Not Found" in text:
                raise InputError(f"bucket {self.bucket!r} does not exist at {self.url}") from None
            if ("403 Forbidden" in text and "169.254.169.254" in text) or "credential" in text.lower():
                raise ConnectionFailed(f"no AWS credentials found for {self.url} (env, profile, role)") from None
            if "403 Forbidden" in text or "401 Unauthorized" in text:
                raise ConnectionFailed(f"access to {self.url} refused: check the AWS credentials or profile") from None
            if "error sending request" in text or "timed out" in text:
                raise ConnectionFailed(f"cannot reach the S3 endpoint of {self.url}") from None
            raise ConnectionFailed(f"{self.url}: {objectstore.describe_error(error)}") from None

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Keys in ascending UTF-8 byte order (S3's own), both bounds exclusive; listed through boto3, because
        object_store folds a leading or trailing `/` away when it lists (`dir/` comes back as `dir`, silently), which
        would fold two objects onto one name. Reads and writes stay on object_store."""
        yield from self._list_sdk(prefix, start_after, stop_before)

    def _list_sdk(self, prefix: str, start_after: str | None, stop_before: str | None) -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
        if start_after is not None:
            args["StartAfter"] = self._key(start_after)
        for page in self.client.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", []):
                key = item["Key"][skip:]
                if not before_stop(key, stop_before):
                    return
                yield ObjectInfo(
                    key=key,
                    size=int(item["Size"]),
                    version=item["ETag"].strip('"'),
                    modified=objectstore.s3_timestamp(item["LastModified"]),
                )

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        """The common prefixes right under `prefix` (ending with `delimiter`), relative to the store (boto3, for the
        reason `list` gives)."""
        skip = len(self.prefix)
        folder = self._key(prefix.rpartition(delimiter)[0] + delimiter if delimiter in prefix else "")
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder, Delimiter=delimiter
        )
        found = [p["Prefix"][skip:] for page in pages for p in page.get("CommonPrefixes", [])]
        yield from sorted((p for p in found if p.startswith(prefix)), key=str.encode)

    def _addressable(self, key: str) -> bool:
        """Whether object_store can name the object; the rest (`a//b`, `x/`, `./`) go through boto3."""
        return object_store_problem(self._key(key)) is None

    def head(self, key: str) -> ObjectInfo | None:
        if not self._addressable(key):
            return self._sdk_head(key)
        try:
            result = objectstore.get(self.store, self._key(key), key, head=True)
        except ObjectMissing:
            return None
        return objectstore.info(key, result.meta, result.attributes, S3_KEYS)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        if not self._addressable(key):
            return self._sdk_get(key, offset)[1]
        try:
            result = objectstore.get(self.store, self._key(key), key, offset=offset)
        except ObjectMissing:
            raise StoreError(f"{key}: no longer in the source") from None
        return objectstore.Reader(result)  # type: ignore[return-value]

    def fetch(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """Head and body in one GET (saves a request per object)."""
        if not self._addressable(key):
            return self._sdk_get(key, 0)
        result = objectstore.get(self.store, self._key(key), key)
        info = objectstore.info(key, result.meta, result.attributes, S3_KEYS)
        return info, objectstore.Reader(result)  # type: ignore[return-value]

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        body = objectstore.body(data, size, key)
        if not self._addressable(key):
            args = {"Bucket": self.bucket, "Key": self._key(key), "Body": bytes(body), "ContentLength": size}
            sent = self.client.put_object(**args, **self._attributes(content_type, metadata, headers))
            return WriteResult(version=sent["ETag"].strip('"'))
        reply = obstore.put(
            self.store,
            self._key(key),
            body,
            attributes=objectstore.attributes(content_type, metadata, headers, S3_KEYS),
            use_multipart=False,
        )
        proof = TARGET_CHECKED if self.checks_content_sha256 else None
        return WriteResult(version=str(reply["e_tag"] or "").strip('"'), proof=proof)

    def delete(self, key: str) -> None:
        if not self._addressable(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
            return
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self.store, self._key(key))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- boto3 for names object_store cannot address ------------------------------------------------

    def _sdk_head(self, key: str) -> ObjectInfo | None:
        try:
            return self._sdk_info(key, self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except _client_error() as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _sdk_get(self, key: str, offset: int) -> tuple[ObjectInfo, BinaryIO]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if offset:
            args["Range"] = f"bytes={offset}-"
        try:
            reply = self.client.get_object(**args)
        except _client_error() as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise ObjectMissing(f"{key}: not found") from None
            raise
        return self._sdk_info(key, reply), reply["Body"]

    @staticmethod
    def _sdk_info(key: str, reply: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(reply["ContentLength"]),
            version=reply["ETag"].strip('"'),
            content_type=reply.get("ContentType"),
            metadata=S3_KEYS.from_stored(reply.get("Metadata", {})),
            headers={name: reply[arg] for name, arg in _HEADERS.items() if reply.get(arg)},
        )

    @staticmethod
    def _attributes(
        content_type: str | None, metadata: dict[str, str], headers: Mapping[str, str] | None
    ) -> dict[str, Any]:
        """boto3 arguments for an object's content type, metadata and system headers."""
        args: dict[str, Any] = {"Metadata": S3_KEYS.to_stored(metadata)}
        if content_type:
            args["ContentType"] = content_type
        for name, value in (headers or {}).items():
            if name in _HEADERS and value:
                args[_HEADERS[name]] = value
        return args

    # -- multipart (resumable): parts live on the server until completed or aborted ------------------

    def begin_upload(self, key: str, size: int) -> str:
        return str(self.client.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))["UploadId"])

    def _parts(self, key: str, upload_id: str) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        parts: builtins.list[dict[str, Any]] = []
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
        )
        for page in pages:
            parts.extend(page.get("Parts", []))
        return parts

    def parts_present(self, key: str, upload_id: str, part_size: int) -> set[int] | None:
        try:
            return {int(p["PartNumber"]) for p in self._parts(key, upload_id)}
        except _client_error() as error:
            if _code(error) in ("NoSuchUpload", "404"):
                return None
            raise

    def upload_part(self, key: str, upload_id: str, number: int, part_size: int, data: bytes) -> None:
        self.client.upload_part(
            Bucket=self.bucket, Key=self._key(key), UploadId=upload_id, PartNumber=number, Body=data
        )

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
        listed = {int(p["PartNumber"]): p["ETag"] for p in self._parts(key, upload_id)}
        missing = [n for n in range(1, parts + 1) if n not in listed]
        if missing:
            raise StoreError(f"{key}: parts {missing[:5]} missing from the multipart upload")
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": listed[n]} for n in range(1, parts + 1)]},
        )
        # Our SHA-256 is known only now: stamp it (and the metadata) by a server-side copy onto itself.
        attributes = self._attributes(content_type, metadata, headers)
        return self._copy(self.bucket, self._key(key), None, key, size, attributes)

    def abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
        except _client_error() as error:
            if _code(error) not in ("NoSuchUpload", "404"):
                raise

    # -- server-side copy ------------------------------------------------------------------------

    def can_copy_from(self, source: Store) -> bool:
        return isinstance(source, S3Store) and (source.endpoint, source.region, source.profile) == (
            self.endpoint,
            self.region,
            self.profile,
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
        assert isinstance(source, S3Store)
        attributes = self._attributes(content_type, metadata, headers)
        return self._copy(source.bucket, source._key(src.key), src.version, key, src.size, attributes)

    def _copy(
        self,
        bucket: str,
        source_key: str,
        if_match: str | None,
        key: str,
        size: int,
        attributes: dict[str, Any],
    ) -> WriteResult:
        """A server-side copy that replaces content type, metadata and headers with `attributes`."""
        extra: dict[str, Any] = {"MetadataDirective": "REPLACE", **attributes}
        if size <= _SINGLE_COPY_LIMIT:
            if if_match:
                extra["CopySourceIfMatch"] = if_match
            reply = self.client.copy_object(
                Bucket=self.bucket, Key=self._key(key), CopySource={"Bucket": bucket, "Key": source_key}, **extra
            )
            return WriteResult(version=reply["CopyObjectResult"]["ETag"].strip('"'))
        from boto3.s3.inject import copy as managed_copy  # what boto3 adds to its clients as `copy`

        managed_copy(self.client, {"Bucket": bucket, "Key": source_key}, self.bucket, self._key(key), ExtraArgs=extra)
        head = self.head(key)
        if head is None:
            raise StoreError(f"{key}: missing right after a server-side copy")
        return WriteResult(version=head.version)
