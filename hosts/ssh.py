"""The SSH executor: paramiko, directly or through a bastion, host keys verified, sudo, streaming, timeouts.

Host keys come from a known_hosts file and unknown keys are refused (`RejectPolicy`); only
`insecure_accept_unknown=True` (the CLI's explicit `--insecure-accept-host-keys`) adds them blindly.
A bastion hop is a `direct-tcpip` channel on the bastion's transport, used as the socket of the target's.
Secrets travel only on the command's stdin, and every line of output is masked before anyone sees it.
"""

from __future__ import annotations

import errno
import io
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from opcloud.errors import ConnectionFailed

LineSink = Callable[[str], None]
MASK = "********"

# paramiko logs each failed handshake with a traceback from its transport thread; our one-line errors say
# what happened. A handler here keeps Python's last-resort stderr handler away; --verbose can still see them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Endpoint:
    """One SSH server: address, port, user and a private key (as text, never logged)."""

    address: str
    port: int
    user: str
    private_key: str = field(repr=False)
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.user}@{self.address}:{self.port}"


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str  # stdout and stderr interleaved, secrets masked


class CommandTimeout(ConnectionFailed):
    """A remote command ran past its deadline (the channel is closed, the remote shell gets SIGHUP)."""


def load_private_key(text: str) -> paramiko.PKey:
    last: Exception | None = None
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as error:
            last = error
    raise ConnectionFailed(f"SSH private key not readable: {last}")


class Masker:
    """Replaces every secret value (and its lines) in text before it is printed or stored."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class SshExecutor:
    """One connection to a host (optionally through a bastion); run scripts on it."""

    def __init__(
        self,
        target: Endpoint,
        *,
        known_hosts: Path,
        bastion: Endpoint | None = None,
        insecure_accept_unknown: bool = False,
        connect_timeout: float = 15.0,
    ) -> None:
        self.target = target
        self.bastion = bastion
        self.known_hosts = known_hosts
        self.insecure = insecure_accept_unknown
        self.connect_timeout = connect_timeout
        self._clients: list[paramiko.SSHClient] = []

    # ------------------------------------------------------------------------------------------ connect

    def _client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        elif not self.insecure:
            raise ConnectionFailed(f"known_hosts file {self.known_hosts} not found: host keys cannot be verified")
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if self.insecure else paramiko.RejectPolicy())
        return client

    def _connect(self, endpoint: Endpoint, sock: paramiko.Channel | None = None) -> paramiko.SSHClient:
        client = self._client()
        try:
            client.connect(
                endpoint.address,
                port=endpoint.port,
                username=endpoint.user,
                pkey=load_private_key(endpoint.private_key),
                sock=sock,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise ConnectionFailed(f"{endpoint.label}: host key does not match {self.known_hosts}") from None
        except paramiko.SSHException as error:
            # When the transport thread failed first (no banner), connect() only says "No existing session".
            transport = client.get_transport()
            cause = (transport.get_exception() if transport is not None else None) or error
            client.close()
            raise ConnectionFailed(f"{endpoint.label}: {self._why(cause)}") from None
        except (OSError, TimeoutError) as error:
            client.close()
            raise ConnectionFailed(f"{endpoint.label}: {self._why(error)}") from None
        self._clients.append(client)
        return client

    def _why(self, error: Exception) -> str:
        """The cause of a failed connection in words, never paramiko's internal state."""
        text = str(error)
        seconds = f"{self.connect_timeout:g}s"
        if "not found in known_hosts" in text:
            return (
                f"unknown host key (not in {self.known_hosts}); add it after checking its fingerprint, "
                "or pass --insecure-accept-host-keys"
            )
        if "protocol banner" in text or "No existing session" in text or "Negotiation failed" in text:
            return f"no SSH handshake within {seconds} (the port accepts connections but does not answer as SSH)"
        if isinstance(error, paramiko.AuthenticationException):
            return "the server refused the SSH key"
        if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
            codes = {e.errno for e in error.errors.values() if isinstance(e, OSError)}
            return "connection refused" if codes <= {errno.ECONNREFUSED} else f"cannot connect: {text}"
        if isinstance(error, (TimeoutError, socket.timeout)):
            return f"no answer within {seconds} (address unreachable or filtered)"
        if isinstance(error, OSError) and error.strerror:
            return f"cannot connect: {error.strerror}"
        return f"SSH failed: {text}"

    def connect(self) -> SshExecutor:
        if self._clients:
            return self
        sock = None
        if self.bastion is not None:
            hop = self._connect(self.bastion)
            transport = hop.get_transport()
            assert transport is not None
            try:
                sock = transport.open_channel(
                    "direct-tcpip",
                    (self.target.address, self.target.port),
                    ("127.0.0.1", 0),
                    timeout=self.connect_timeout,
                )
            except (paramiko.SSHException, OSError) as error:
                self.close()
                raise ConnectionFailed(
                    f"{self.target.label}: bastion {self.bastion.label} cannot reach it: {error}"
                ) from None
        try:
            self._connect(self.target, sock)
        except ConnectionFailed:
            self.close()
            raise
        return self

    def close(self) -> None:
        for client in reversed(self._clients):
            client.close()
        self._clients.clear()

    def __enter__(self) -> SshExecutor:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- run

    def run(
        self,
        command: str,
        *,
        stdin: str = "",
        sudo: bool = False,
        timeout: float = 600.0,
        masker: Masker | None = None,
        on_line: LineSink | None = None,
    ) -> Result:
        """Run `command`; feed `stdin`; stream masked lines to `on_line`; raise CommandTimeout past `timeout`."""
        self.connect()
        mask = masker or Masker()
        transport = self._clients[-1].get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=self.connect_timeout)
        channel.set_combine_stderr(True)
        if sudo and self.target.user != "root":
            # -n: fail at once rather than wait for a password prompt nobody will answer.
            command = f"sudo -n -- {command}"
        channel.exec_command(command)
        if stdin:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        deadline = time.monotonic() + timeout
        collected: list[str] = []

        def emit(raw: bytes) -> None:
            line = mask(raw.decode(errors="replace"))
            collected.append(line)
            if on_line:
                on_line(line)

        pending = b""
        channel.settimeout(0.2)
        try:
            while True:
                if time.monotonic() > deadline:
                    raise CommandTimeout(f"{self.target.label}: command timed out after {timeout:g}s")
                try:
                    chunk = channel.recv(32768)
                except TimeoutError:  # socket.timeout: nothing yet, check the deadline again
                    chunk = None
                if chunk == b"":
                    break
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        emit(raw)
            if pending:
                emit(pending)
            exit_code = channel.recv_exit_status()
        finally:
            channel.close()
        return Result(exit_code, "\n".join(collected))
