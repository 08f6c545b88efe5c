"""`file:///path`: a local directory or a mounted share (NFS on the document hosts)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from stat import S_ISDIR
from typing import BinaryIO

from opcloud.migrate.stores.tree import Entry, TreeStore
from opcloud.migrate.stores.url import StoreURL

ATTRIBUTE = "user.opcloud"  # an object's properties, JSON (tree.py)
# A file system without user xattrs, or a value too large for it: the tree falls back to a sidecar.
NO_ATTRIBUTES = (errno.ENOTSUP, errno.E2BIG, errno.ENOSPC, errno.EPERM, errno.ERANGE)
ABSENT_ATTRIBUTE = (errno.ENODATA, errno.ENOTSUP, errno.ENOENT)  # a file without properties of ours


class LocalFileSystem:
    def scandir(self, path: str) -> Iterator[Entry]:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    yield Entry(entry.name, True, 0, "")
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    yield Entry(entry.name, False, stat.st_size, str(stat.st_mtime_ns))

    def stat(self, path: str) -> Entry | None:
        try:
            stat = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                return None  # no such file can exist
            raise
        return Entry(os.path.basename(path), S_ISDIR(stat.st_mode), stat.st_size, str(stat.st_mtime_ns))

    def open_read(self, path: str, offset: int) -> BinaryIO:
        handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
        if offset:
            handle.seek(offset)
        return handle

    def open_write(self, path: str, offset: int | None) -> BinaryIO:
        if offset is None:
            return open(path, "wb")
        handle = open(path, "r+b")  # noqa: SIM115
        handle.seek(offset)
        return handle

    def rename(self, source: str, target: str) -> None:
        os.replace(source, target)

    def remove(self, path: str) -> None:
        os.remove(path)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def exists_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def set_properties(self, path: str, data: bytes) -> bool:
        try:
            os.setxattr(path, ATTRIBUTE, data)
        except OSError as error:
            if error.errno in NO_ATTRIBUTES:
                return False
            raise
        return True

    def get_properties(self, path: str) -> bytes | None:
        try:
            return os.getxattr(path, ATTRIBUTE)
        except OSError as error:
            if error.errno in ABSENT_ATTRIBUTE:
                return None
            raise

    def close(self) -> None:
        return None


def open_local(url: StoreURL) -> TreeStore:
    return TreeStore(url.redacted(), LocalFileSystem(), url.path)
