"""A store that lives in this process's memory: the worked example of adding a backend (ARCHITECTURE.md).

One module with a class implementing the core `Store` interface, and one `register(Backend(...))` record: the
engine, the URL parser, residency, `copy` and `verify` then take `mem://NAME/PREFIX` like any other store.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from opcloud.migrate.buckets.sameobject import ALL_PROPERTIES, Features
from opcloud.migrate.stores.base import ObjectInfo, WriteResult, after_start, before_stop
from opcloud.migrate.stores.keys import KeyRules
from opcloud.migrate.stores.url import StoreURL

# name -> key -> (bytes, content type, metadata, headers)
SPACES: dict[str, dict[str, tuple[bytes, str | None, dict[str, str], dict[str, str]]]] = {}


class MemoryStore:
    def __init__(self, url: StoreURL) -> None:
        self.url = url.redacted()
        self.prefix = url.prefix
        self.objects = SPACES.setdefault(url.netloc_host, {})
        self.features = Features(holds=ALL_PROPERTIES, keys=KeyRules(), listing_sees_metadata_changes=True)

    def _info(self, key: str) -> ObjectInfo:
        data, content_type, metadata, headers = self.objects[self.prefix + key]
        version = hashlib.sha256(data + repr((content_type, metadata, headers)).encode()).hexdigest()
        return ObjectInfo(key, len(data), version, content_type, dict(metadata), dict(headers))

    def check(self) -> None:
        return None

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        for name in sorted(self.objects):
            key = name[len(self.prefix) :]
            in_range = after_start(key, start_after) and before_stop(key, stop_before)
            if name.startswith(self.prefix + prefix) and in_range:
                yield self._info(key)

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        found = set()
        for name in self.objects:
            key = name[len(self.prefix) :]
            if name.startswith(self.prefix + prefix) and delimiter in key[len(prefix) :]:
                found.add(key[: key.index(delimiter, len(prefix)) + len(delimiter)])
        yield from sorted(found)

    def head(self, key: str) -> ObjectInfo | None:
        return self._info(key) if self.prefix + key in self.objects else None

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        return io.BytesIO(self.objects[self.prefix + key][0][offset:])

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        self.objects[self.prefix + key] = (data.read(size), content_type, dict(metadata), dict(headers or {}))
        return WriteResult(self._info(key).version)

    def delete(self, key: str) -> None:
        self.objects.pop(self.prefix + key, None)

    def close(self) -> None:
        return None


def open_memory(url: StoreURL) -> MemoryStore:
    return MemoryStore(url)
