"""Test data sets written through the store API, and helpers to compare two stores object by object."""

from __future__ import annotations

import hashlib
import io
import os
import random

from opcloud.migrate.stores.base import SHA256_KEY, Store
from opcloud.migrate.stores.registry import open_store

MIB = 1024 * 1024


def dataset(large: int = 11 * MIB) -> dict[str, tuple[bytes, str | None, dict[str, str]]]:
    """Mixed sizes, an empty object, deep and unicode keys, metadata with keys Azure refuses."""
    rng = random.Random(42)
    objects: dict[str, tuple[bytes, str | None, dict[str, str]]] = {
        "empty.txt": (b"", "text/plain", {}),
        "tenders/UA-2024-01-01-000001-a/bid.pdf": (rng.randbytes(70_000), "application/pdf", {"tender-id": "UA-1"}),
        "tenders/UA-2024-01-01-000001-a/signature.p7s": (b"sig" * 100, "application/pkcs7-signature", {}),
        "a/b/c/d/e/f/deep.json": (b'{"deep": true}', "application/json", {"owner": "Київ", "plain": "v"}),
        "документи/звіт ✓.txt": ("звіт".encode(), "text/plain; charset=utf-8", {}),
        "m/large.bin": (os.urandom(large), "application/octet-stream", {"x-kind": "archive"}),
    }
    for i in range(8):
        objects[f"small/{i:03d}.bin"] = (rng.randbytes(rng.randrange(1, 5000)), None, {})
    return objects


def fill(url: str, objects: dict[str, tuple[bytes, str | None, dict[str, str]]]) -> None:
    store = open_store(url)
    try:
        for key, (data, content_type, metadata) in objects.items():
            store.write(key, io.BytesIO(data), len(data), content_type, metadata)
    finally:
        store.close()


def read_all(store: Store, key: str) -> bytes:
    handle = store.open(key)
    try:
        return handle.read()
    finally:
        handle.close()


def snapshot(url: str) -> dict[str, tuple[str, str | None, dict[str, str]]]:
    """key -> (sha256 of the content, content type, user metadata without ours), read back from the store."""
    store = open_store(url)
    try:
        result = {}
        for info in store.list():
            head = store.head(info.key)
            assert head is not None
            metadata = {k: v for k, v in (head.metadata or {}).items() if k != SHA256_KEY}
            digest = hashlib.sha256(read_all(store, info.key)).hexdigest()
            if SHA256_KEY in (head.metadata or {}):
                assert head.metadata[SHA256_KEY] == digest  # type: ignore[index]
            result[info.key] = (digest, head.content_type, metadata)
        return result
    finally:
        store.close()


def expected(objects: dict[str, tuple[bytes, str | None, dict[str, str]]]) -> dict[str, tuple[str, str | None, dict]]:
    return {key: (hashlib.sha256(data).hexdigest(), ctype, meta) for key, (data, ctype, meta) in objects.items()}


def same_content(a: dict, b: dict) -> bool:
    """Equal keys, content and metadata; content types compared where both sides keep them."""
    if a.keys() != b.keys():
        return False
    return all(
        a[k][0] == b[k][0] and a[k][2] == b[k][2] and (None in (a[k][1], b[k][1]) or a[k][1] == b[k][1]) for k in a
    )
