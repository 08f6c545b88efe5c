"""Directory trees as stores: `file:///path` (also a mounted NFS share) and `sftp://...` share this logic.

A key `a/b/c.pdf` is the file ROOT/a/b/c.pdf. Its content type, headers, user metadata and our SHA-256 (which
let S3 -> tree -> S3 keep them) travel with the file where the file system can hold them: one extended attribute
(`user.opcloud`, JSON), set on the partial file before it is renamed into place. Only where it cannot (SFTP, a
file system without user xattrs) do they live in a JSON sidecar ROOT/.opcloud-meta/a/b/c.pdf; sidecars written
before are still read. The sidecar tree mirrors the data tree name for name, so two sidecars collide only where
two files would (`a` and `a/b`, which the engine refuses before writing). Writes go to
ROOT/.opcloud-partial/<unique id> and are renamed into place, so a reader never sees half an object; a write
hashes the bytes as they go to the file and refuses to publish them unless they match the SHA-256 they came with
(HASHED_WHILE_WRITTEN: the engine does not read them back unless asked to). A failed write removes its partial
file, a crashed large write resumes from it, and the next run removes partial files no upload needs.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable

from opcloud.migrate.buckets.sameobject import ALL_PROPERTIES, Features
from opcloud.migrate.stores.base import (
    HASHED_WHILE_WRITTEN,
    SHA256_KEY,
    ObjectInfo,
    StoreError,
    WriteResult,
)
from opcloud.migrate.stores.keys import KeyRules

META_DIR = ".opcloud-meta"
PARTIAL_DIR = ".opcloud-partial"
_RESERVED = (META_DIR, PARTIAL_DIR)
_COPY_CHUNK = 1024 * 1024
_NAME_MAX = 255  # bytes per path segment (Linux NAME_MAX)
_PATH_MAX = 4096  # bytes per path, with the root and the sidecar folder


class Entry(NamedTuple):  # a tuple: made once per listed file, where a dataclass costs twice as much
    name: str
    is_dir: bool
    size: int
    version: str


class FileSystem(Protocol):
    """The few filesystem calls a tree store needs: implemented by the local OS and by SFTP."""

    def scandir(self, path: str) -> Iterator[Entry]: ...
    def stat(self, path: str) -> Entry | None: ...
    def open_read(self, path: str, offset: int) -> BinaryIO: ...
    def open_write(self, path: str, offset: int | None) -> BinaryIO: ...  # None: create/truncate
    def rename(self, source: str, target: str) -> None: ...  # replaces target atomically
    def remove(self, path: str) -> None: ...
    def rmdir(self, path: str) -> None: ...  # fails (OSError) unless empty
    def makedirs(self, path: str) -> None: ...
    def exists_dir(self, path: str) -> bool: ...
    def close(self) -> None: ...


@runtime_checkable
class PropertiesFileSystem(Protocol):
    """Optional: a file system that keeps a small blob with each file (a user extended attribute), so an object's
    properties need no sidecar file."""

    def set_properties(self, path: str, data: bytes) -> bool: ...  # False: this file or file system cannot
    def get_properties(self, path: str) -> bytes | None: ...  # None: it holds none


def properties_blob(
    content_type: str | None, metadata: dict[str, str], headers: Mapping[str, str] | None, version: str
) -> bytes:
    """An object's properties as its extended attribute holds them (JSON), for the file of `version`."""
    properties = {"content_type": content_type, "metadata": metadata, "headers": dict(headers or {})}
    return json.dumps({**properties, "version": version}).encode()


def tree_features(root: str) -> Features:
    """A tree holds every property (in sidecars); its names are file paths."""
    return Features(
        holds=ALL_PROPERTIES,
        keys=KeyRules(
            max_bytes=_PATH_MAX - 1 - len(f"{root.rstrip('/')}/{META_DIR}/".encode()),
            max_segment_bytes=_NAME_MAX,
            file_tree=True,
            reserved_first_segments=_RESERVED,
        ),
        listing_sees_metadata_changes=False,  # a sidecar's change leaves the file's mtime: --check-metadata
    )


class TreeStore:
    min_part_size = 1
    max_parts = 1_000_000
    part_concurrency = 1  # parts of one file are written in order, by one writer

    def __init__(self, url: str, fs: FileSystem, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self.features = tree_features(self.root)
        self._partial_dir_made = False  # made on the first write, not checked again per object (a round trip)
        # Found once: isinstance against a runtime-checkable Protocol is slow per object.
        self._attributes: PropertiesFileSystem | None = fs if isinstance(fs, PropertiesFileSystem) else None
        self._sidecars: bool | None = None  # whether ROOT/.opcloud-meta exists: found on first need
        # Folders this store made or found (a makedirs is 3 syscalls locally, round trips over SFTP): made once per
        # run. Forgotten when a delete prunes folders; a folder removed by someone else fails the rename, which
        # then makes it again (_move_into_place).
        self._folders_made: set[str] = set()

    def _path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _meta_path(self, key: str) -> str:
        return self._path(META_DIR, key)

    def _check_path(self, key: str) -> None:
        """For reads: the key names a path inside the root (a full check of what the tree holds is for writes)."""
        if "\0" in key or any(segment in ("", ".", "..") for segment in key.split("/")):
            raise StoreError(f"key {key!r} cannot be stored as a file path: an empty, `.` or `..` segment, or NUL")

    def _check(self, key: str) -> None:
        problem = self.features.keys.problem(key)
        if problem is not None:
            raise StoreError(f"key {key!r} cannot be stored as a file path: {problem}")

    def _makedirs_for(self, path: str) -> None:
        folder = path.rsplit("/", 1)[0]
        if folder not in self._folders_made:
            self.fs.makedirs(folder)
            self._folders_made.add(folder)

    def _move_into_place(self, partial: str, target: str) -> None:
        """Rename a complete file to `target`, making its folder first (again, if it vanished since it was made)."""
        self._makedirs_for(target)
        try:
            self.fs.rename(partial, target)
        except FileNotFoundError:
            if self.fs.stat(partial) is None:
                raise  # the partial file itself is gone: nothing to publish
            self._folders_made.clear()
            self._makedirs_for(target)
            self.fs.rename(partial, target)

    def _partial(self, name: str) -> str:
        """ROOT/.opcloud-partial/<name> to write to; the directory is made on first use."""
        if not self._partial_dir_made:
            self.fs.makedirs(self._path(PARTIAL_DIR))
            self._partial_dir_made = True
        return self._path(PARTIAL_DIR, name)

    def create_root(self) -> None:
        self.fs.makedirs(self.root)

    def check(self) -> None:
        from opcloud.errors import InputError

        if not self.fs.exists_dir(self.root):
            raise InputError(f"directory {self.root!r} does not exist at {self.url}")

    def _sorted_entries(self, relative: str) -> builtins.list[tuple[str, Entry]]:
        """One directory's entries as (key, entry), a directory's key ending in `/`, in the byte order of keys:
        then a depth-first walk yields keys in order (`a.b` < `a/x` < `a0`). One directory is held in memory."""
        entries = []
        for entry in self.fs.scandir(self._path(relative) if relative else self.root):
            if not relative and entry.name in _RESERVED:
                continue
            entries.append((f"{relative}{entry.name}/" if entry.is_dir else f"{relative}{entry.name}", entry))
        entries.sort()  # by key: the keys of one folder are distinct, so entries are never compared
        return entries

    def list(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[ObjectInfo]:
        for key, entry in self._walk(prefix, start_after, stop_before):
            yield ObjectInfo(key, entry.size, entry.version)

    def rows(
        self, prefix: str = "", start_after: str | None = None, stop_before: str | None = None
    ) -> Iterator[tuple[str, int, str, str]]:
        """The listing as the state loads it, (key, size, version, change tag), without an ObjectInfo per file: a
        tree's change tag is its version (StateDB.load_rows)."""
        for key, entry in self._walk(prefix, start_after, stop_before):
            yield key, entry.size, entry.version, entry.version

    def _walk(
        self, prefix: str, start_after: str | None, stop_before: str | None
    ) -> Iterator[tuple[str, Entry]]:
        """(key, entry) of every file of the range, in key order (see list)."""
        if not self.fs.exists_dir(self.root):
            return  # a target tree a dry run found missing: nothing there yet
        stack: builtins.list[Iterator[tuple[str, Entry]]] = [iter(self._sorted_entries(""))]
        while stack:
            # One pass of the top folder's entries, left (break) to descend into a folder and resumed after it.
            for key, entry in stack[-1]:
                if stop_before is not None and key >= stop_before:
                    return  # every later key, in this folder or under it, is past the range
                if entry.is_dir:
                    wanted = key.startswith(prefix) or prefix.startswith(key)
                    # A folder whose keys all sort at or before start_after (it is not a prefix of it) is skipped.
                    skipped = start_after is not None and key < start_after and not start_after.startswith(key)
                    if wanted and not skipped:
                        stack.append(iter(self._sorted_entries(key)))
                        break
                elif key.startswith(prefix) and (start_after is None or key > start_after):
                    yield key, entry
            else:
                stack.pop()

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        if delimiter != "/":
            raise StoreError(f"a directory tree splits keys at '/' only, not at {delimiter!r}")
        folder = prefix.rpartition("/")[0] + "/" if "/" in prefix else ""
        if not self.fs.exists_dir(self._path(folder) if folder else self.root):
            return
        for key, entry in self._sorted_entries(folder):
            if entry.is_dir and key.startswith(prefix):
                yield key

    def _has_sidecars(self) -> bool:
        if self._sidecars is None:
            self._sidecars = self.fs.exists_dir(self._path(META_DIR))
        return self._sidecars

    @staticmethod
    def _parse(raw: bytes) -> dict[str, object]:
        try:
            loaded = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _read_meta(self, key: str) -> dict[str, object]:
        """The properties of `key`: from its extended attribute, else from its sidecar; {} when it has none."""
        if self._attributes is not None:
            raw = self._attributes.get_properties(self._path(key))
            if raw is not None:
                return self._parse(raw)
        if not self._has_sidecars():
            return {}
        try:
            with self.fs.open_read(self._meta_path(key), 0) as handle:
                return self._parse(handle.read())
        except OSError:
            return {}

    def head(self, key: str) -> ObjectInfo | None:
        self._check_path(key)
        entry = self.fs.stat(self._path(key))
        if entry is None or entry.is_dir:
            return None
        return self.describe(key, entry.size, entry.version, self._read_meta(key))

    @staticmethod
    def describe(key: str, size: int, version: str, meta: dict[str, object]) -> ObjectInfo:
        """The object a file of `size` bytes and `version` is, with the properties `meta` recorded for it."""
        if meta.get("version") not in (None, version):
            meta = {}  # the file changed behind our back: its properties no longer describe it
        content_type = meta.get("content_type")
        metadata = meta.get("metadata")
        headers = meta.get("headers")
        return ObjectInfo(
            key=key,
            size=size,
            version=version,
            content_type=content_type if isinstance(content_type, str) else None,
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            headers=dict(headers) if isinstance(headers, dict) else {},
        )

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        self._check_path(key)
        try:
            return self.fs.open_read(self._path(key), offset)
        except FileNotFoundError:
            raise StoreError(f"{key}: no longer in the source") from None

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.fs.remove(path)

    def _publish(
        self,
        partial: str,
        key: str,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None,
    ) -> WriteResult:
        """Move a complete partial file into place with its properties: in its extended attribute where the file
        system holds one (set before the rename, so the file appears with them), else in a sidecar."""
        target = self._path(key)
        properties = {"content_type": content_type, "metadata": metadata, "headers": dict(headers or {})}
        if self._attributes is not None:
            entry = self.fs.stat(partial)  # its mtime, kept by the rename: the version the properties describe
            blob = properties_blob(content_type, metadata, headers, entry.version if entry else "")
            if entry is not None and self._attributes.set_properties(partial, blob):
                self._move_into_place(partial, target)
                if self._has_sidecars():  # one from an earlier write would describe an older file
                    with contextlib.suppress(OSError):
                        self.fs.remove(self._meta_path(key))
                return WriteResult(version=entry.version)
        self._move_into_place(partial, target)
        entry = self.fs.stat(target)
        if entry is None:
            raise StoreError(f"{key}: missing right after it was written")
        meta_path = self._meta_path(key)
        self._sidecars = True
        sidecar = json.dumps({**properties, "version": entry.version})
        meta_partial = self._partial(uuid.uuid4().hex)
        try:
            with self.fs.open_write(meta_partial, None) as handle:
                handle.write(sidecar.encode())
            self._move_into_place(meta_partial, meta_path)
        except BaseException:
            self._remove_quietly(meta_partial)
            raise
        return WriteResult(version=entry.version)

    def write(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        content_type: str | None,
        metadata: dict[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        self._check(key)
        partial = self._partial(uuid.uuid4().hex)
        try:
            written = 0
            hasher = hashlib.sha256()
            with self.fs.open_write(partial, None) as handle:
                while chunk := data.read(_COPY_CHUNK):
                    handle.write(chunk)
                    hasher.update(chunk)
                    written += len(chunk)
            if written != size:
                raise StoreError(f"{key}: expected {size} bytes, got {written}")
            expected = metadata.get(SHA256_KEY)
            if expected is not None and hasher.hexdigest() != expected:
                raise StoreError(f"{key}: the bytes written do not match the SHA-256 they came with; not published")
            result = self._publish(partial, key, content_type, metadata, headers)
            return WriteResult(result.version, proof=HASHED_WHILE_WRITTEN if expected is not None else None)
        except BaseException:
            self._remove_quietly(partial)  # gone already when it was renamed into place
            raise

    def delete(self, key: str) -> None:
        self._check(key)
        for path in (self._path(key), self._meta_path(key)):
            with contextlib.suppress(FileNotFoundError):
                self.fs.remove(path)
            self._prune(path)

    def _prune(self, path: str) -> None:
        """Remove directories left empty under the root, as object stores have no empty directories."""
        self._folders_made.clear()  # a folder pruned here must be made again by the next write into it
        parent = path.rsplit("/", 1)[0]
        while len(parent) > len(self.root) and parent.startswith(self.root.rstrip("/") + "/"):
            try:
                self.fs.rmdir(parent)
            except OSError:
                return
            parent = parent.rsplit("/", 1)[0]

    def close(self) -> None:
        self.fs.close()

    # -- resumable writes: one partial file per upload, parts written in order --------------------

    def begin_upload(self, key: str, size: int) -> str:
        self._check(key)
        upload_id = uuid.uuid4().hex
        with self.fs.open_write(self._partial(upload_id), None):
            pass
        return upload_id

    def parts_present(self, key: str, upload_id: str, part_size: int) -> set[int] | None:
        entry = self.fs.stat(self._path(PARTIAL_DIR, upload_id))
        if entry is None:
            return None
        return set(range(1, entry.size // part_size + 1))  # only whole parts count

    def upload_part(self, key: str, upload_id: str, number: int, part_size: int, data: bytes) -> None:
        with self.fs.open_write(self._path(PARTIAL_DIR, upload_id), (number - 1) * part_size) as handle:
            handle.write(data)

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
        partial = self._path(PARTIAL_DIR, upload_id)
        entry = self.fs.stat(partial)
        if entry is None or entry.size < size:
            raise StoreError(f"{key}: partial file incomplete; the upload restarts")
        if entry.size > size:
            raise StoreError(f"{key}: partial file longer than the object; the upload restarts")
        return self._publish(partial, key, content_type, metadata, headers)

    def abort_upload(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.remove(self._path(PARTIAL_DIR, upload_id))

    def sweep_partials(self, live_uploads: set[str]) -> int:
        """Remove partial files of writes that died (a kill, a lost connection) and of uploads no longer resumed."""
        if not self.fs.exists_dir(self._path(PARTIAL_DIR)):
            return 0
        removed = 0
        for entry in list(self.fs.scandir(self._path(PARTIAL_DIR))):
            if not entry.is_dir and entry.name not in live_uploads:
                self._remove_quietly(self._path(PARTIAL_DIR, entry.name))
                removed += 1
        return removed
