"""The sshd fixture really serves SFTP and verifies host keys (other suites rely on it)."""

from __future__ import annotations

import paramiko
import pytest

from tests.servers.sshd import SshServer


def _client(server: SshServer, known_hosts: str | None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if known_hosts:
        client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        server.host,
        server.port,
        server.user,
        key_filename=str(server.client_key),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    return client


def test_sftp_round_trip_with_verified_host_key(sshd: SshServer) -> None:
    with _client(sshd, str(sshd.known_hosts)) as client, client.open_sftp() as sftp:
        path = str(sshd.home / "hello.txt")
        with sftp.open(path, "wb") as handle:
            handle.write(b"hello")
        assert (sshd.home / "hello.txt").read_bytes() == b"hello"


def test_unknown_host_key_is_refused(sshd: SshServer) -> None:
    with pytest.raises(paramiko.SSHException):
        _client(sshd, None)
