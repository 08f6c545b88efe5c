"""`file:///path`: a local directory or a mounted share (NFS on the document hosts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from opcloud.migrate.stores.tree import Entry, TreeStore
from opcloud.migrate.stores.url import StoreURL


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
        except FileNotFoundError:
            return None
        return Entry(os.path.basename(path), os.path.isdir(path), stat.st_size, str(stat.st_mtime_ns))

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

    def close(self) -> None:
        return None


def open_local(url: StoreURL) -> TreeStore:
    return TreeStore(url.redacted(), LocalFileSystem(), url.path)
