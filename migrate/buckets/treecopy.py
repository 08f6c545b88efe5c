"""The tree -> tree fast path: small files copied between two local trees in one loop, not a thread per object.

For a small file every cost is Python and system calls; threads only add lock hand-offs (issue 16: 20,000 files
took 5.9 s on one thread, 10.8 s on eight). So the engine hands each planned copy of a file no larger than a part
to `TreeCopier.copy`, on the thread that reads the plan, and gives everything else (large files, deletes,
verifications left by an earlier run, --check-metadata, --read-back, and any object this path fails on) to the
general path.

What holds on it is what holds on the general path: the source is opened once and checked against its listing
(size and mtime, from the open file); its bytes are read once, hashed (our SHA-256) and written from that same
buffer to a partial file that gets its properties (`user.opcloud`, our SHA-256 among them) before it is renamed
into place (HASHED_WHILE_WRITTEN). The check after the rename: the target name holds the very file written (inode,
size, mtime) with the properties set on it, byte for byte. Only then is the object recorded in the state, copied
and verified in one row (batched, tree.py / state.py): a kill before that leaves no row, and the next run copies
it again. Per file: open, fstat, fgetxattr, read, close on the source; open, write, fstat, fsetxattr, close,
rename, stat, getxattr on the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import uuid

from opcloud.migrate.buckets import transfer
from opcloud.migrate.buckets.sameobject import headers_to_carry
from opcloud.migrate.buckets.state import Todo
from opcloud.migrate.stores.base import ObjectInfo, Store
from opcloud.migrate.stores.local import ABSENT_ATTRIBUTE, ATTRIBUTE, NO_ATTRIBUTES, LocalFileSystem
from opcloud.migrate.stores.tree import TreeStore, properties_blob

_READ = os.O_RDONLY | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def local_tree(store: Store) -> bool:
    """A directory tree on this machine's file systems (file://)."""
    return isinstance(store, TreeStore) and isinstance(store.fs, LocalFileSystem)


def local_trees(source: Store, target: Store) -> bool:
    """Both stores are directory trees on this machine's file systems: the fast path applies."""
    return local_tree(source) and local_tree(target)


class TreeCopier:
    def __init__(self, ctx: transfer.Context) -> None:
        assert isinstance(ctx.source, TreeStore) and isinstance(ctx.target, TreeStore)
        self.ctx = ctx
        self.source: TreeStore = ctx.source
        self.target: TreeStore = ctx.target
        # Partial names: this run's token and a counter; unique across runs and shards without urandom per file.
        self._token = uuid.uuid4().hex
        self._numbers = itertools.count()
        # Until the target's file system refuses one: then the general path (sidecars) for every file.
        self._attributes = self.target._attributes is not None
        self._source_sidecars = self.source._has_sidecars()

    def takes(self, item: Todo) -> bool:
        """A planned copy of a file that goes in one write (larger ones go in resumable parts), into a file system
        that holds our extended attribute (else the general path writes sidecars)."""
        return item.action == "copy" and item.size <= self.ctx.part_size and self._attributes

    def copy(self, item: Todo) -> tuple[str, ObjectInfo]:
        """Copy, check and record one file (see the module docstring); returns our SHA-256 and the source's info.
        On any error nothing is recorded and no partial file is left: the caller hands the object to the general
        path, which copies and verifies it again, with its retries and its messages."""
        info, data = self._read(item)
        sha = hashlib.sha256(data).hexdigest()
        self.ctx.bandwidth.take(item.size)
        self.ctx.on_bytes(item.size)
        version = self._write(item.key, info, data, sha)
        self.ctx.state.record_copied(item.key, item.size, item.tag, sha, version, verified=True)
        return sha, info

    def _read(self, item: Todo) -> tuple[ObjectInfo, bytes]:
        """The source file as listed, with its properties, and its bytes (from one open file: one snapshot)."""
        # No path check per key: each planned key passed the target's file-tree rules (no empty, `.` or `..`
        # segment, no NUL) when it was listed, and the source's names are the same keys.
        fd = os.open(self.source._path(item.key), _READ)
        try:
            stat = os.fstat(fd)
            version = str(stat.st_mtime_ns)
            if (stat.st_size, version) != (item.size, item.version):
                raise transfer.TransientError(f"{item.key}: changed in the source since it was listed")
            info = self.source.describe(item.key, item.size, version, self._source_properties(fd, item.key))
            data = os.read(fd, item.size + 1)  # one more than listed: a file that grew shows it
            while len(data) < item.size and (more := os.read(fd, item.size + 1 - len(data))):
                data += more
        finally:
            os.close(fd)
        if len(data) != item.size:
            raise transfer.TransientError(f"{item.key}: read {len(data)} bytes, listed with {item.size}")
        return info, data

    def _source_properties(self, fd: int, key: str) -> dict[str, object]:
        try:
            return self.source._parse(os.getxattr(fd, ATTRIBUTE))
        except OSError as error:
            if error.errno not in ABSENT_ATTRIBUTE:
                raise
        return self.source._read_meta(key) if self._source_sidecars else {}

    def _write(self, key: str, info: ObjectInfo, data: bytes, sha: str) -> str:
        """Write `data` (hashed as `sha`) under `key` with the source's properties; returns the file's version."""
        target = self.target
        metadata = transfer.object_metadata(info, sha)
        headers = headers_to_carry(info, target.features)
        partial = target._partial(f"{self._token}-{next(self._numbers)}")
        final = target._path(key)
        try:
            fd = os.open(partial, _CREATE, 0o666)
            try:
                view, written = memoryview(data), 0
                while written < len(data):
                    written += os.write(fd, view[written:])
                stat = os.fstat(fd)  # after the last write: the mtime the rename keeps
                version = str(stat.st_mtime_ns)
                blob = properties_blob(info.content_type, metadata, headers, version)
                try:
                    os.setxattr(fd, ATTRIBUTE, blob)
                except OSError as error:
                    if error.errno in NO_ATTRIBUTES:  # from now on the general path, which writes sidecars
                        self._attributes = False
                    raise
            finally:
                os.close(fd)
            target._move_into_place(partial, final)
        except BaseException:
            target._remove_quietly(partial)  # gone already when it was renamed into place
            raise
        if target._has_sidecars():  # one from an earlier write would describe an older file
            with contextlib.suppress(OSError):
                target.fs.remove(target._meta_path(key))
        self._check_published(key, final, stat, blob)
        return version

    @staticmethod
    def _check_published(key: str, final: str, written: os.stat_result, blob: bytes) -> None:
        """The target name holds the file just written, with the properties just set on it."""
        found = os.stat(final)
        if (found.st_ino, found.st_dev, found.st_size, found.st_mtime_ns) != (
            written.st_ino,
            written.st_dev,
            written.st_size,
            written.st_mtime_ns,
        ):
            raise transfer.TransientError(f"{key}: another file is in place right after it was written")
        if os.getxattr(final, ATTRIBUTE) != blob:
            raise transfer.TransientError(f"{key}: its properties differ right after they were written")
