"""File trees as targets (issue 16): bytes hashed as they are written, properties in an extended attribute where
the file system holds one (a sidecar only where it does not), and no read-back unless asked for."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.stores.base import SHA256_KEY, StoreError
from opcloud.migrate.stores.local import LocalFileSystem
from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.tree import META_DIR, Entry, TreeStore

from tests.migrate.conftest import NewUrl
from tests.migrate.data import dataset, expected, fill, same_content, snapshot


def _options(tmp_path: Path, **kwargs: object) -> engine.CopyOptions:
    return engine.CopyOptions(state_dir=tmp_path / "state", transfers=4, progress=False, **kwargs)  # type: ignore[arg-type]


def _root(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def test_a_tree_target_is_hashed_while_written_and_read_back_only_when_asked(new_url: NewUrl, tmp_path: Path) -> None:
    objects = dataset(large=100_000)
    source, target, again = new_url("s3"), new_url("file"), new_url("file")
    fill(source, objects)
    report = engine.copy(source, target, _options(tmp_path))
    assert report.ok, report.failed
    assert report.proofs == {
        "target-checked": 0,
        "hashed-while-written": len(objects),
        "service-digest": 0,
        "read-back": 0,
    }
    assert same_content(snapshot(target), expected(objects))  # content type and metadata came with the files
    assert not (_root(target) / META_DIR).exists()  # held in extended attributes: no sidecar tree
    checked = engine.copy(source, again, _options(tmp_path, read_back=True))
    assert checked.ok and checked.proofs["read-back"] == len(objects) == checked.verified


@pytest.mark.parametrize("backend", ["file", "sftp"])
def test_a_tree_refuses_bytes_that_do_not_match_their_sha256(backend: str, new_url: NewUrl) -> None:
    store = open_store(new_url(backend))
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(StoreError, match="do not match"):
        store.write("doc.txt", io.BytesIO(b"these bytes"), 11, "text/plain", {SHA256_KEY: wrong})
    assert store.head("doc.txt") is None and list(store.list()) == []
    assert isinstance(store, TreeStore) and store.sweep_partials(set()) == 0  # its partial file was removed
    right = hashlib.sha256(b"these bytes").hexdigest()
    result = store.write("doc.txt", io.BytesIO(b"these bytes"), 11, "text/plain", {SHA256_KEY: right})
    assert result.proof == "hashed-while-written"


class _NoAttributes:
    """The local file system as one without user extended attributes (as SFTP is): only the plain calls."""

    def __init__(self) -> None:
        self._fs = LocalFileSystem()

    def scandir(self, path: str) -> Iterator[Entry]:
        return self._fs.scandir(path)

    def stat(self, path: str) -> Entry | None:
        return self._fs.stat(path)

    def open_read(self, path: str, offset: int) -> BinaryIO:
        return self._fs.open_read(path, offset)

    def open_write(self, path: str, offset: int | None) -> BinaryIO:
        return self._fs.open_write(path, offset)

    def rename(self, source: str, target: str) -> None:
        self._fs.rename(source, target)

    def remove(self, path: str) -> None:
        self._fs.remove(path)

    def rmdir(self, path: str) -> None:
        self._fs.rmdir(path)

    def makedirs(self, path: str) -> None:
        self._fs.makedirs(path)

    def exists_dir(self, path: str) -> bool:
        return self._fs.exists_dir(path)

    def close(self) -> None:
        self._fs.close()


def test_sidecars_only_where_the_file_system_holds_no_attributes(new_url: NewUrl, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    plain = TreeStore(f"file://{root}", _NoAttributes(), str(root))
    plain.write("a/doc.txt", io.BytesIO(b"doc"), 3, "text/plain", {"owner": "Київ"}, {"content-language": "uk"})
    assert (root / META_DIR / "a" / "doc.txt").is_file()  # no attributes: a sidecar
    reader = open_store(f"file://{root}")  # a tree written with sidecars (also by an older opcloud) still reads
    info = reader.head("a/doc.txt")
    assert info is not None and (info.content_type, info.metadata) == ("text/plain", {"owner": "Київ"})
    assert info.headers == {"content-language": "uk"}
    reader.write("a/doc.txt", io.BytesIO(b"doc2"), 4, "text/csv", {"owner": "Львів"})
    assert not (root / META_DIR / "a" / "doc.txt").exists()  # the stale sidecar went with the old file
    info = reader.head("a/doc.txt")
    assert info is not None and (info.content_type, info.metadata) == ("text/csv", {"owner": "Львів"})
    sftp = open_store(new_url("sftp"))
    sftp.write("b/doc.txt", io.BytesIO(b"doc"), 3, "text/plain", {"k": "v"})
    assert isinstance(sftp, TreeStore)
    assert sftp.fs.stat(f"{sftp.root}/{META_DIR}/b/doc.txt") is not None  # SFTP holds no attributes: a sidecar


class _CountingFolders(LocalFileSystem):
    """The real local file system, counting the folders it is asked to make."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def makedirs(self, path: str) -> None:
        self.made.append(path)
        super().makedirs(path)


def test_a_tree_makes_each_folder_once_and_again_when_it_vanished(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    fs = _CountingFolders()
    tree = TreeStore(f"file://{root}", fs, str(root))
    for name in ("a", "b", "c"):
        tree.write(f"docs/{name}.txt", io.BytesIO(b"x"), 1, "text/plain", {})
    assert fs.made.count(f"{root}/docs") == 1  # not once per file: 3 syscalls locally, round trips over SFTP
    (root / "docs" / "a.txt").unlink()  # someone else empties and removes the folder during the run
    (root / "docs" / "b.txt").unlink()
    (root / "docs" / "c.txt").unlink()
    (root / "docs").rmdir()
    tree.write("docs/d.txt", io.BytesIO(b"d"), 1, "text/plain", {})
    assert (root / "docs" / "d.txt").read_bytes() == b"d"
    tree.delete("docs/d.txt")  # pruned: the empty folder goes, and the next write makes it again
    assert not (root / "docs").exists()
    tree.write("docs/e.txt", io.BytesIO(b"e"), 1, "text/plain", {})
    info = tree.head("docs/e.txt")
    assert info is not None and info.content_type == "text/plain"
