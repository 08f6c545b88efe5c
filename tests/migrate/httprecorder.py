"""A TCP proxy in front of a real HTTP/1.1 server that records every request line a client sends through it: what
the Rust data plane (obstore) asks of a server, which no Python hook can see."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class _Requests:
    """Parses the client's side of one connection into (method, target) pairs: heads, then bodies skipped by their
    Content-Length or chunked framing."""

    def __init__(self, seen: list[tuple[str, str]], lock: threading.Lock) -> None:
        self._seen, self._lock = seen, lock
        self._buffer = b""
        self._body_left = 0
        self._chunked = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self._body_left:
            taken = min(self._body_left, len(self._buffer))
            self._buffer, self._body_left = self._buffer[taken:], self._body_left - taken
            return bool(self._buffer) and not self._body_left
        if self._chunked:
            return self._chunk()
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4 :]
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        with self._lock:
            self._seen.append((method, target))
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        self._chunked = fields.get("transfer-encoding", "").lower() == "chunked"
        self._body_left = int(fields.get("content-length", "0"))
        return bool(self._buffer)

    def _chunk(self) -> bool:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return False
        size = int(self._buffer[:end].split(b";")[0], 16)
        if size == 0:  # the last chunk, then (no trailers) an empty line
            if len(self._buffer) < end + 4:
                return False
            self._buffer, self._chunked = self._buffer[end + 4 :], False
            return bool(self._buffer)
        if len(self._buffer) < end + 2 + size + 2:
            return False
        self._buffer = self._buffer[end + 2 + size + 2 :]
        return bool(self._buffer)


class RecordingProxy:
    """Listens on 127.0.0.1:port, forwards to `upstream_port`, records each request as (method, target)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        parser = _Requests(self.requests, self._lock)

        def pump(src: socket.socket, dst: socket.socket, record: bool) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    if record:
                        parser.feed(data)
                    dst.sendall(data)
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
        pump(client, upstream, True)

    def close(self) -> None:
        self._server.close()


@contextlib.contextmanager
def recording_proxy(upstream_port: int) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream_port)
    try:
        yield proxy
    finally:
        proxy.close()
