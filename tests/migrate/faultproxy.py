"""A TCP proxy for fault tests: forwards to a real server and cuts connections in the middle of transfers,
or flips a byte of what the client sends (a corrupting network)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class DroppingProxy:
    """Listens on 127.0.0.1:port and forwards to `upstream`; each of the first `drops` connections that moves
    more than `after` bytes (either way) is closed abruptly mid-stream. With `corrupt`, those connections are
    not cut: the last byte of the client's chunk that crosses `after` is flipped on its way to the server."""

    def __init__(self, upstream_port: int, after: int, drops: int, corrupt: bool = False) -> None:
        self.upstream_port, self.after, self.remaining, self.corrupt = upstream_port, after, drops, corrupt
        self.dropped = 0
        self.corrupted = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        moved = [0]
        done = threading.Event()

        flipped = [False]

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while not done.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    with self._lock:
                        moved[0] += len(data)
                        hit = moved[0] > self.after and self.remaining > 0
                        if hit and self.corrupt and (src is not client or flipped[0]):
                            hit = False  # corrupt only what the client sends, once per connection
                        if hit:
                            self.remaining -= 1
                            flipped[0] = True
                            if self.corrupt:
                                self.corrupted += 1
                            else:
                                self.dropped += 1
                    if hit and self.corrupt:
                        data = data[:-1] + bytes([data[-1] ^ 0xFF])
                    dst.sendall(data)
                    if hit and not self.corrupt:
                        break
            done.set()
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the other pump blocked in recv on this socket
                with contextlib.suppress(OSError):
                    sock.close()  # the peer sees the connection end mid-transfer

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self._stop = True
        self._server.close()


@contextlib.contextmanager
def dropping_proxy(upstream_port: int, after: int, drops: int, corrupt: bool = False) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(upstream_port, after, drops, corrupt)
    try:
        yield proxy
    finally:
        proxy.close()
