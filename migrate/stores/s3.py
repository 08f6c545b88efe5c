"""`s3://bucket/prefix`: AWS S3 or any S3-compatible endpoint (De Novo, MinIO, moto), through boto3.

Credentials come from the standard chain (environment, `?profile=`, instance role); the URL never holds them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import boto3
import botocore.exceptions as bex
import botocore.session
from botocore.config import Config
from opcloud.migrate.buckets.sameobject import WITHOUT_MD5, Features
from opcloud.migrate.stores.base import ObjectInfo, Store, StoreError, WriteResult, before_stop
from opcloud.migrate.stores.keys import KeyRules
from opcloud.migrate.stores.metakeys import S3_KEYS
from opcloud.migrate.stores.url import StoreURL

from opcloud.errors import ConnectionFailed, InputError

_SINGLE_COPY_LIMIT = 5 * 1024**3  # copy_object's limit; larger objects need a multipart copy
_MAX_KEY_BYTES = 1024
# System headers (sameobject names) and their boto3 parameter names.
_HEADERS = {
    "content-disposition": "ContentDisposition",
    "cache-control": "CacheControl",
    "content-language": "ContentLanguage",
    "content-encoding": "ContentEncoding",
}


def _code(error: bex.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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
        core = botocore.session.Session()
        # LastModified is only compared as text, and parsing it with dateutil is a good part of a listing's CPU.
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
        try:
            session = boto3.session.Session(botocore_session=core, profile_name=self.profile)
        except bex.ProfileNotFound:
            raise InputError(f"AWS profile {self.profile!r} not found (from {self.url})") from None
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
        try:
            self.client: Any = session.client("s3", endpoint_url=self.endpoint, region_name=self.region, config=config)
        except ValueError as error:
            raise InputError(f"bad S3 endpoint in {self.url}: {error}") from None

    def _key(self, key: str) -> str:
        return self.prefix + key

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except bex.ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or _code(error) in ("404", "NoSuchBucket"):
                raise InputError(f"bucket {self.bucket!r} does not exist at {self.url}") from None
            if status in (401, 403):
                raise ConnectionFailed(f"access to {self.url} refused: check the AWS credentials or profile") from None
            raise ConnectionFailed(f"{self.url}: {_code(error) or status}") from None
        except bex.NoCredentialsError:
            raise ConnectionFailed(f"no AWS credentials found for {self.url} (environment, profile or role)") from None
        except (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError) as error:
            raise ConnectionFailed(f"cannot reach the S3 endpoint of {self.url}: {type(error).__name__}") from None
        except bex.BotoCoreError as error:
            raise ConnectionFailed(f"{self.url}: {type(error).__name__}") from None

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
        if start_after is not None:
            args["StartAfter"] = self._key(start_after)  # the service skips to the range: no pages before it
        for page in self.client.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", []):
                key = item["Key"][skip:]
                if not before_stop(key, stop_before):
                    return  # S3 lists in UTF-8 byte order: nothing further is in the range, no more pages
                yield ObjectInfo(
                    key=key,
                    size=int(item["Size"]),
                    version=item["ETag"].strip('"'),
                    modified=str(item.get("LastModified", "")),
                )

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        skip = len(self.prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix), Delimiter=delimiter
        )
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"][skip:]

    def head(self, key: str) -> ObjectInfo | None:
        try:
            reply = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except bex.ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return self._info(key, reply)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if offset:
            args["Range"] = f"bytes={offset}-"
        try:
            return self.client.get_object(**args)["Body"]
        except bex.ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise StoreError(f"{key}: no longer in the source") from None
            raise

    def fetch(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """Head and body in one GET (saves a request per object)."""
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except bex.ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise StoreError(f"{key}: not found") from None
            raise
        return self._info(key, reply), reply["Body"]

    @staticmethod
    def _info(key: str, reply: dict[str, Any]) -> ObjectInfo:
        """An object's info from the headers of a HEAD or GET reply."""
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

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data, "ContentLength": size}
        args.update(self._attributes(content_type, metadata, headers))
        reply = self.client.put_object(**args)
        return WriteResult(version=reply["ETag"].strip('"'))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def close(self) -> None:
        self.client.close()

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
        except bex.ClientError as error:
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
        except bex.ClientError as error:
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
        self.client.copy({"Bucket": bucket, "Key": source_key}, self.bucket, self._key(key), ExtraArgs=extra)
        head = self.head(key)
        if head is None:
            raise StoreError(f"{key}: missing right after a server-side copy")
        return WriteResult(version=head.version)
