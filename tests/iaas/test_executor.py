"""The paramiko executor against real OpenSSH servers: the test VM (own root and netns) and, as a bastion,
the shared loopback sshd. Host keys are verified; unknown or wrong keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from opcloud.hosts.ssh import CommandTimeout, Endpoint, Masker, SshExecutor

from opcloud.errors import ConnectionFailed
from tests.servers.iaas_host import IaasHost
from tests.servers.sshd import SshServer


def _vm(vm: IaasHost) -> Endpoint:
    return Endpoint(vm.address, vm.port, vm.user, vm.client_key.read_text(), "vm")


def test_runs_as_user_and_with_sudo_as_root(iaas_host: IaasHost) -> None:
    with SshExecutor(_vm(iaas_host), known_hosts=iaas_host.known_hosts) as ssh:
        assert ssh.run("id -un").output.strip() == "opcloud"
        assert ssh.run("id -un", sudo=True).output.strip() == "root"
        # The session lands in the VM's own root, not the test machine's.
        assert ssh.run("cat /etc/hostname").output.strip() == "opcloud-test-vm"
        assert ssh.run("exit 7").exit_code == 7


def test_streams_lines_and_masks_secrets(iaas_host: IaasHost) -> None:
    lines: list[str] = []
    with SshExecutor(_vm(iaas_host), known_hosts=iaas_host.known_hosts) as ssh:
        result = ssh.run(
            "bash -s", stdin='read -r s; echo "one"; echo "the secret is $s" >&2; echo two\n'
            "Sup3r-Secret\n", masker=Masker(["Sup3r-Secret"]), on_line=lines.append,
        )  # fmt: skip
    # stdout and stderr share the channel; their relative order is the server's business.
    assert sorted(lines) == ["one", "the secret is ********", "two"]
    assert "Sup3r-Secret" not in result.output


def test_unknown_host_key_is_refused(iaas_host: IaasHost, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(ConnectionFailed, match="unknown host key"):
        SshExecutor(_vm(iaas_host), known_hosts=empty).connect()
    # Only the explicit flag accepts it.
    with SshExecutor(_vm(iaas_host), known_hosts=empty, insecure_accept_unknown=True) as ssh:
        assert ssh.run("true").exit_code == 0


def test_wrong_host_key_is_refused(iaas_host: IaasHost, sshd: SshServer, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{iaas_host.address} {' '.join(sshd.host_public_key.split()[:2])}\n")
    with pytest.raises(ConnectionFailed, match="host key does not match"):
        SshExecutor(_vm(iaas_host), known_hosts=wrong).connect()


def test_missing_known_hosts_file_is_refused(iaas_host: IaasHost, tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match="not found"):
        SshExecutor(_vm(iaas_host), known_hosts=tmp_path / "absent").connect()


def test_timeout_stops_a_hanging_command(iaas_host: IaasHost) -> None:
    with SshExecutor(_vm(iaas_host), known_hosts=iaas_host.known_hosts) as ssh:
        with pytest.raises(CommandTimeout, match="timed out"):
            ssh.run("sleep 60", timeout=1)
        assert ssh.run("echo still-usable").output.strip() == "still-usable"


def test_through_a_bastion(iaas_host: IaasHost, sshd: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts.read_text() + iaas_host.known_hosts.read_text())
    bastion = Endpoint(sshd.host, sshd.port, sshd.user, sshd.client_key.read_text(), "bastion")
    with SshExecutor(_vm(iaas_host), known_hosts=known, bastion=bastion) as ssh:
        assert ssh.run("cat /etc/hostname").output.strip() == "opcloud-test-vm"
    # The bastion's own host key is verified too.
    only_vm = tmp_path / "only_vm"
    only_vm.write_text(iaas_host.known_hosts.read_text())
    with pytest.raises(ConnectionFailed, match="bastion"):
        SshExecutor(_vm(iaas_host), known_hosts=only_vm, bastion=bastion).connect()


def test_bastion_that_cannot_reach_the_host(iaas_host: IaasHost, sshd: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts.read_text())
    bastion = Endpoint(sshd.host, sshd.port, sshd.user, sshd.client_key.read_text(), "bastion")
    closed = Endpoint("127.0.0.1", 1, "nobody", iaas_host.client_key.read_text(), "closed")
    with pytest.raises(ConnectionFailed, match="cannot reach"):
        SshExecutor(closed, known_hosts=known, bastion=bastion, connect_timeout=5).connect()
