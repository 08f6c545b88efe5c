"""A real OpenSSH server on loopback: SFTP for the bucket stores, TCP forwarding for tunnels and bastions.

The fixture `sshd` starts `/usr/sbin/sshd -D -e -f CONFIG` once per test run with its own ed25519 host key,
a generated client key pair and a known_hosts file naming the server, so clients verify the host key as they
would in production (never blind-accept).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.process import free_port, keygen, start, stop, wait_for_port

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    client_key: Path  # private key (ed25519, no passphrase) authorised for `user`
    known_hosts: Path  # a known_hosts file with the server's host key for [host]:port
    host_public_key: str  # "ssh-ed25519 AAAA..."
    home: Path  # a scratch directory the test user can write to

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not os.path.exists(SSHD):
        pytest.fail("OpenSSH server missing: run `bash scripts/bootstrap.sh --servers`")
    root = tmp_path_factory.mktemp("sshd")
    host_key, client_key = root / "host_ed25519", root / "client_ed25519"
    host_public = keygen(host_key, "opcloud-test-host")
    client_public = keygen(client_key, "opcloud-test-client")
    authorized = root / "authorized_keys"
    authorized.write_text(client_public + "\n")
    authorized.chmod(0o600)
    port = free_port()
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {' '.join(host_public.split()[:2])}\n")
    home = root / "home"
    home.mkdir()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {root / 'sshd.pid'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "AllowTcpForwarding yes",
                "Subsystem sftp internal-sftp",
                "LogLevel INFO",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir sshd requires as root
    log = root / "sshd.log"
    process = start([SSHD, "-D", "-e", "-f", str(config)], log)
    try:
        wait_for_port(port, process, log)
        yield SshServer(
            host="127.0.0.1",
            port=port,
            user=getpass.getuser(),
            client_key=client_key,
            known_hosts=known_hosts,
            host_public_key=host_public,
            home=home,
        )
    finally:
        stop(process)
