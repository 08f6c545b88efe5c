"""`sftp://user@host:port/path`: a directory tree over SSH (paramiko), e.g. the NFS share of a document host.

Authentication: `?key=PATH`, else the SSH agent and ~/.ssh keys. The host key is always checked against
`?known_hosts=PATH` (default ~/.ssh/known_hosts) and an unknown host is refused, never accepted blindly.
`?bastion=user@host:port` reaches the host through a jump host (its key: `?bastion_key=`, else as above).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat as statmodule
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

import paramiko
from opcloud.migrate.stores.tree import Entry, TreeStore
from opcloud.migrate.stores.url import StoreURL

from opcloud.errors import ConnectionFailed, InputError


def _split_target(value: str) -> tuple[str, str, int]:
    user, _, hostport = value.rpartition("@")
    host, _, port = hostport.partition(":")
    if not user or not host or (port and not port.isdigit()):
        raise InputError(f"bastion must be user@host[:port], got {value!r}")
    return user, host, int(port or 22)


def _connect(
    host: str, port: int, user: str, key: str | None, known_hosts: str, shown: str, sock: Any = None
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if not os.path.exists(known_hosts):
        raise InputError(f"known_hosts file {known_hosts!r} not found (for {shown}): host keys are always checked")
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if key and not os.path.exists(key):
        raise InputError(f"SSH key file {key!r} not found (for {shown})")
    try:
        client.connect(
            host,
            port,
            username=user,
            key_filename=key,
            allow_agent=key is None,
            look_for_keys=key is None,
            sock=sock,
            timeout=15,
            banner_timeout=15,
            auth_timeout=15,
        )
    except paramiko.BadHostKeyException:
        raise ConnectionFailed(f"host key of {shown} does not match known_hosts: refusing to connect") from None
    except paramiko.AuthenticationException:
        raise ConnectionFailed(f"SSH authentication as {user!r} refused by {shown}") from None
    except paramiko.SSHException as error:
        if "not found in known_hosts" in str(error):
            raise ConnectionFailed(
                f"host {shown} is not in {known_hosts}: add its key, never accepted blindly"
            ) from None
        raise ConnectionFailed(f"SSH to {shown} failed: {error}") from None
    except (OSError, EOFError) as error:
        raise ConnectionFailed(f"cannot reach {shown}: {error.__class__.__name__}") from None
    return client


class _Reader:
    """Sequential reads, each one pipelined (readv sends its 32 KiB requests at once): plain SFTP reads wait
    for every request in turn. Memory stays bounded by the size asked for, unlike a whole-file prefetch."""

    def __init__(self, handle: paramiko.SFTPFile, offset: int, size: int) -> None:
        self._handle, self._position, self._size = handle, offset, size

    def read(self, size: int = -1) -> bytes:
        remaining = self._size - self._position
        amount = remaining if size < 0 else min(size, remaining)
        if amount <= 0:
            return b""
        data = b"".join(self._handle.readv([(self._position, amount)]))
        self._position += len(data)
        return data

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SftpFileSystem:
    """FileSystem over one SSH connection; each thread gets its own SFTP channel on it."""

    def __init__(self, url: StoreURL) -> None:
        shown = url.redacted()
        known_hosts = url.params.get("known_hosts", os.path.expanduser("~/.ssh/known_hosts"))
        key = url.params.get("key")
        port = url.port or 22
        self._clients: list[paramiko.SSHClient] = []
        sock = None
        if "bastion" in url.params:
            b_user, b_host, b_port = _split_target(url.params["bastion"])
            bastion = _connect(
                b_host, b_port, b_user, url.params.get("bastion_key", key), known_hosts, f"bastion {b_host}:{b_port}"
            )
            self._clients.append(bastion)
            transport = bastion.get_transport()
            assert transport is not None
            try:
                sock = transport.open_channel("direct-tcpip", (url.netloc_host, port), ("127.0.0.1", 0))
            except (paramiko.SSHException, OSError):
                raise ConnectionFailed(f"bastion {b_host} cannot reach {url.netloc_host}:{port}") from None
        assert url.user is not None
        client = _connect(url.netloc_host, port, url.user, key, known_hosts, shown, sock)
        self._clients.append(client)
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(30)
        self._transport = transport
        self._local = threading.local()

    @property
    def sftp(self) -> paramiko.SFTPClient:
        client = getattr(self._local, "sftp", None)
        if client is None:
            client = paramiko.SFTPClient.from_transport(self._transport)
            assert client is not None
            self._local.sftp = client
        return client

    @staticmethod
    def _entry(name: str, attrs: paramiko.SFTPAttributes) -> Entry:
        is_dir = statmodule.S_ISDIR(attrs.st_mode or 0)
        # SFTP v3 gives whole seconds only: the size joins the version so most rewrites still show.
        return Entry(name, is_dir, int(attrs.st_size or 0), f"{attrs.st_mtime or 0}:{attrs.st_size or 0}")

    def scandir(self, path: str) -> Iterator[Entry]:
        # A channel of its own: listdir_iter streams replies, and other requests interleaved on the same
        # channel (a head while the caller walks the listing) would steal them.
        lister = paramiko.SFTPClient.from_transport(self._transport)
        assert lister is not None
        try:
            for attrs in lister.listdir_iter(path):
                if statmodule.S_ISDIR(attrs.st_mode or 0) or statmodule.S_ISREG(attrs.st_mode or 0):
                    yield self._entry(attrs.filename, attrs)
        finally:
            lister.close()

    def stat(self, path: str) -> Entry | None:
        try:
            return self._entry(path.rsplit("/", 1)[-1], self.sftp.stat(path))
        except FileNotFoundError:
            return None

    def open_read(self, path: str, offset: int) -> BinaryIO:
        handle = self.sftp.open(path, "rb", bufsize=1024 * 1024)
        return _Reader(handle, offset, int(handle.stat().st_size or 0))  # type: ignore[return-value]

    def open_write(self, path: str, offset: int | None) -> BinaryIO:
        handle = self.sftp.open(path, "wb" if offset is None else "r+b", bufsize=1024 * 1024)
        handle.set_pipelined(True)  # do not wait for each write's acknowledgement; close() waits for all
        if offset:
            handle.seek(offset)
        return handle  # type: ignore[return-value]

    def rename(self, source: str, target: str) -> None:
        self.sftp.posix_rename(source, target)

    def remove(self, path: str) -> None:
        self.sftp.remove(path)

    def rmdir(self, path: str) -> None:
        self.sftp.rmdir(path)

    def makedirs(self, path: str) -> None:
        if self.exists_dir(path):
            return
        parent = path.rsplit("/", 1)[0]
        if parent and parent != path:
            self.makedirs(parent)
        try:
            self.sftp.mkdir(path)
        except OSError:
            if not self.exists_dir(path):  # another worker may have made it meanwhile
                raise

    def exists_dir(self, path: str) -> bool:
        entry = self.stat(path)
        return entry is not None and entry.is_dir

    def close(self) -> None:
        for client in reversed(self._clients):
            with contextlib.suppress(OSError, socket.error):
                client.close()


def open_sftp(url: StoreURL) -> TreeStore:
    return TreeStore(url.redacted(), SftpFileSystem(url), url.path)
