"""An SSH tunnel through a bastion (paramiko): a loopback port forwarded to the database host.

The bastion's host key must be in known_hosts (the given file, else ~/.ssh/known_hosts): an unknown or
changed key is refused, never added. Subprocesses (pg_dump, psql) use the same loopback port.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
from opcloud.migrate.databases.dsn import DbEndpoint

from opcloud.errors import ConnectionFailed


def _parse_bastion(spec: str) -> tuple[str, str, int]:
    user, _, hostport = spec.partition("@")
    host, port = hostport, 22
    if hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
        port = int(port_text)
    return user, host.strip("[]"), port


class Tunnel:
    """Listens on 127.0.0.1:<port>; every connection becomes a `direct-tcpip` channel to the database."""

    def __init__(self, endpoint: DbEndpoint) -> None:
        assert endpoint.ssh
        self.endpoint = endpoint
        self.user, self.bastion, self.bastion_port = _parse_bastion(endpoint.ssh)
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        known = Path(endpoint.ssh_known_hosts or "~/.ssh/known_hosts").expanduser()
        if known.is_file():
            self.client.load_host_keys(str(known))
        try:
            self.client.connect(
                self.bastion, port=self.bastion_port, username=self.user,
                key_filename=endpoint.ssh_key, timeout=10, banner_timeout=10, auth_timeout=10,
                allow_agent=endpoint.ssh_key is None, look_for_keys=endpoint.ssh_key is None,
            )  # fmt: skip
        except paramiko.SSHException as error:
            raise ConnectionFailed(f"ssh bastion {endpoint.ssh}: {error}") from None
        except OSError as error:
            raise ConnectionFailed(f"ssh bastion {endpoint.ssh} unreachable: {error.strerror or error}") from None
        transport = self.client.get_transport()
        assert transport is not None
        self.transport = transport
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="ssh-tunnel", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                sock, peer = self.listener.accept()
            except OSError:
                return
            try:
                channel = self.transport.open_channel(
                    "direct-tcpip", (self.endpoint.host, self.endpoint.port), peer, timeout=10
                )
            except Exception:  # a refused channel ends that one connection, not the tunnel
                sock.close()
                continue
            threading.Thread(target=_pump, args=(sock, channel), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.client.close()


def _pump(sock: socket.socket, channel: paramiko.Channel) -> None:
    try:
        while True:
            waiting: list[socket.socket | paramiko.Channel] = [sock, channel]
            readable, _, _ = select.select(waiting, [], [], 1.0)
            if sock in readable:
                data = sock.recv(65536)
                if not data:
                    break
                channel.sendall(data)
            if channel in readable:
                data = channel.recv(65536)
                if not data:
                    break
                sock.sendall(data)
    except Exception:  # either side going away ends the relay (EOFError, socket errors)
        pass
    finally:
        with contextlib.suppress(Exception):  # the transport may already be gone (EOFError)
            channel.close()
        sock.close()


@contextlib.contextmanager
def reach(*endpoints: DbEndpoint) -> Iterator[None]:
    """Open a tunnel for every endpoint that has a bastion; close them all on exit."""
    tunnels: list[Tunnel] = []
    try:
        for endpoint in endpoints:
            if endpoint.ssh:
                tunnel = Tunnel(endpoint)
                tunnels.append(tunnel)
                endpoint.local_port = tunnel.port
        yield
    finally:
        for tunnel in tunnels:
            tunnel.close()
        for endpoint in endpoints:
            endpoint.local_port = None
