"""Single PUTs to a store whose service computes the MD5 of the body it stores (Azure Put Blob) are proven in
batches, from one listing of the target each, instead of a read-back per object.

An object is proven when the listing holds it with the MD5 we computed of the bytes we sent, the size and the ETag
our PUT returned (the blob we wrote, not another writer's since), our SHA-256 in its metadata, and every property
the pair carries equal to the source's. Anything else (not listed, no MD5, another MD5, size or ETag, a property
that differs) is not proven: the engine reads it back, and sends it again, as it does without this proof. Until its
batch is proven an object stays recorded as copied but not verified: a run that dies in between verifies it (a
read-back) or copies it again on resume.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from opcloud.migrate.buckets.state import Todo
from opcloud.migrate.buckets.transfer import Context, Copied, check_properties
from opcloud.migrate.stores.base import SHA256_KEY, ListedDigest

# Objects per listing: one request lists up to 5,000 blobs; a batch waits for its last object before it is listed.
BATCH = 500


@dataclass(frozen=True)
class Awaiting:
    """An object written by a single PUT, waiting for the listing that proves it."""

    item: Todo
    copied: Copied


class Batches:
    """Written objects awaiting their listing, handed out BATCH at a time to whichever worker fills one."""

    def __init__(self) -> None:
        self._size = BATCH
        self._waiting: list[Awaiting] = []
        self._lock = threading.Lock()

    def add(self, awaiting: Awaiting) -> list[Awaiting] | None:
        """Queue one object; a full batch is returned to be listed by the caller."""
        with self._lock:
            self._waiting.append(awaiting)
            if len(self._waiting) < self._size:
                return None
            batch, self._waiting = self._waiting, []
        return batch

    def rest(self) -> list[Awaiting]:
        """What is still waiting (the last, partial batch)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        return batch


def unproven(ctx: Context, awaiting: Awaiting, listed: ListedDigest | None) -> str | None:
    """Why the listing does not prove the object; None when it does (see the module docstring)."""
    copied = awaiting.copied
    if listed is None:
        return "not in the listing of its batch"
    if listed.md5 is None:
        return "the service lists no MD5 for it"
    if listed.md5 != copied.md5:
        return "the MD5 the service computed differs from ours of the bytes sent"
    if (listed.info.size, listed.info.version) != (awaiting.item.size, copied.version):
        return "its size or ETag is not what our write returned (written again since)"
    if (listed.info.metadata or {}).get(SHA256_KEY) != copied.sha:
        return f"its {SHA256_KEY} is not ours"
    return check_properties(ctx, copied.info, listed.info)
