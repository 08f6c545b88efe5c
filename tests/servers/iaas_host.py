"""A disposable Debian 12 "VM" for the IaaS host steps: its own root, its own network, a real OpenSSH server.

The root is a debootstrap'ed Debian tree cached under `.servers/` (built once, ~1-2 min, then reused) and
never written: each test run stacks an overlayfs upper layer on it. `sshd` from that tree runs chrooted in
fresh mount and PID namespaces inside its own network namespace, reached through a veth pair. So the steps'
scripts change the tree's fstab, crypttab, nftables and units, never the machine running the tests.

The fixture `iaas_host` gives the address, a client key for the user `opcloud` (password-less sudo, as on
the clouds' images), a known_hosts naming the host key, and `sh()` to prepare state as root over SSH.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from tests.servers.process import SERVERS_DIR, keygen, start, stop, wait_for_port

SUITE = "bookworm"
# What the steps' check scripts call, and what a cloud image of the target already has.
ROOT_PACKAGES = (
    "openssh-server", "sudo", "nftables", "cryptsetup-bin", "systemd", "iproute2", "procps", "e2fsprogs",
    "postgresql-15", "pgbackrest", "ssl-cert", "auditd", "rsyslog", "rsyslog-gnutls", "nfs-common", "open-iscsi",
    "restic",
    # The release steps (fetch, verify, serve a Python test service) and the HA pair (balancer, Patroni + etcd).
    "curl", "ca-certificates", "openssl", "python3", "haproxy", "keepalived", "patroni", "etcd-server",
    "etcd-client", "python3-psycopg2",
    # The weekly vulnerability scan (hosts/vulnerability_scan.py).
    "debsecan",
)  # fmt: skip
USER = "opcloud"


def _mirror() -> str:
    """The Debian mirror apt already uses on this machine (no host is hard-coded here)."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = source.read_text(errors="replace") if source.is_file() else ""
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(r"^deb\s+(\S+/debian)\s", text, re.M)
        if match:
            return match.group(1)
    raise RuntimeError("no Debian mirror found in /etc/apt sources")


def cached_root() -> Path:
    """The read-only Debian tree, built on first use."""
    digest = hashlib.sha256(" ".join((SUITE, *ROOT_PACKAGES)).encode()).hexdigest()[:10]
    root = SERVERS_DIR / f"iaas-root-{digest}"
    if (root / ".complete").exists():
        return root
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap missing: run `bash scripts/bootstrap.sh --servers`")
    building = Path(f"{root}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    # Its own mount namespace: debootstrap's /proc and /sys mounts vanish with it, even on a crash.
    result = subprocess.run(
        ["unshare", "--mount", "debootstrap", "--variant=minbase", f"--include={','.join(ROOT_PACKAGES)}",
         SUITE, str(building), _mirror()],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"debootstrap failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
    subprocess.run(["chroot", str(building), "apt-get", "clean"], check=False, capture_output=True)
    shutil.rmtree(building / "var/lib/apt/lists", ignore_errors=True)
    (building / ".complete").touch()
    if root.exists():
        shutil.rmtree(root)
    building.rename(root)
    return root


@dataclass
class IaasHost:
    address: str  # the VM's address on the veth link
    gateway: str  # the test machine's side of the link (the SSH client's source address)
    link: str  # the /30 of the veth pair
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    host_public_key: str
    netns: str
    pid: int  # unshare's pid: /proc/<pid>/root is not the tree, ask `sh` instead

    def connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.address, port=self.port, username=self.user, key_filename=str(self.client_key),
                       allow_agent=False, look_for_keys=False, timeout=10)  # fmt: skip
        return client

    def sh(self, script: str, check: bool = True) -> str:
        """Run `script` as root on the host (prepare or inspect state); return stdout+stderr."""
        client = self.connect()
        try:
            stdin, stdout, _ = client.exec_command("sudo -n bash -s 2>&1")
            stdin.write(script)
            stdin.close()
            output = stdout.read().decode(errors="replace")
            code = stdout.channel.recv_exit_status()
        finally:
            client.close()
        if check and code != 0:
            raise AssertionError(f"host script failed ({code}): {output}")
        return output


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _upper_layer(lower: Path, upper: Path, client_public: str, host_key: Path) -> None:
    """Files that differ from the cached tree: the login user, sudo, sshd config and host key."""
    _write(upper / "etc/passwd", (lower / "etc/passwd").read_text() + f"{USER}:x:1000:1000::/home/{USER}:/bin/bash\n")
    _write(upper / "etc/group", (lower / "etc/group").read_text() + f"{USER}:x:1000:\n")
    _write(upper / "etc/shadow", (lower / "etc/shadow").read_text() + f"{USER}:*:19000:0:99999:7:::\n", 0o640)
    _write(upper / f"etc/sudoers.d/{USER}", f"{USER} ALL=(ALL) NOPASSWD: ALL\n", 0o440)
    _write(upper / "etc/hostname", "opcloud-test-vm\n")
    _write(upper / "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 opcloud-test-vm\n")
    ssh_dir = upper / f"home/{USER}/.ssh"
    _write(ssh_dir / "authorized_keys", client_public + "\n", 0o600)
    for path in (upper / f"home/{USER}", ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(path, 1000, 1000)
    (upper / "etc/ssh").mkdir(parents=True, exist_ok=True)
    shutil.copy(host_key, upper / "etc/ssh/ssh_host_ed25519_key")
    (upper / "etc/ssh/ssh_host_ed25519_key").chmod(0o600)
    _write(
        upper / "etc/ssh/sshd_config.d/opcloud-test.conf",
        "ListenAddress 0.0.0.0\nHostKey /etc/ssh/ssh_host_ed25519_key\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin no\nAllowTcpForwarding no\nPidFile /run/sshd.pid\n",
    )


_BOOT = r"""
set -e
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$MERGED"
mount -t proc proc "$MERGED/proc"
mount -t tmpfs -o mode=755 tmpfs "$MERGED/run"
mkdir -p "$MERGED/run/sshd"
ip link set lo up
hostname opcloud-test-vm
exec chroot "$MERGED" /usr/sbin/sshd -D -e
"""


@pytest.fixture(scope="session")
def iaas_host() -> Iterator[IaasHost]:
    if os.geteuid() != 0:
        pytest.fail("the IaaS test host needs root (namespaces, overlayfs, chroot)")
    lower = cached_root()
    work_root = Path(tempfile.mkdtemp(prefix="opcloud-iaas-"))
    upper, work, merged = work_root / "upper", work_root / "work", work_root / "merged"
    for d in (upper, work, merged):
        d.mkdir()
    host_key, client_key = work_root / "host_ed25519", work_root / "client_ed25519"
    host_public = keygen(host_key, "opcloud-iaas-host")
    client_public = keygen(client_key, "opcloud-iaas-client")
    _upper_layer(lower, upper, client_public, host_key)

    tag = os.getpid() % 250 + 1
    netns, veth = f"opcloud-iaas-{os.getpid()}", f"oiaas{os.getpid()}"[:15]
    gateway, address, link = f"10.213.{tag}.1", f"10.213.{tag}.2", f"10.213.{tag}.0/30"
    ip = ["ip"]
    subprocess.run([*ip, "netns", "add", netns], check=True)
    process = None
    try:
        subprocess.run([*ip, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns], check=True)
        subprocess.run([*ip, "addr", "add", f"{gateway}/30", "dev", veth], check=True)
        subprocess.run([*ip, "link", "set", veth, "up"], check=True)
        subprocess.run([*ip, "-n", netns, "addr", "add", f"{address}/30", "dev", "eth0"], check=True)
        subprocess.run([*ip, "-n", netns, "link", "set", "eth0", "up"], check=True)
        known_hosts = work_root / "known_hosts"
        known_hosts.write_text(f"{address} {' '.join(host_public.split()[:2])}\n")
        log = work_root / "sshd.log"
        process = start(
            ["ip", "netns", "exec", netns, "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child",
             "bash", "-c", _BOOT],
            log,
            env={"LOWER": str(lower), "UPPER": str(upper), "WORK": str(work), "MERGED": str(merged)},
        )  # fmt: skip
        wait_for_port(22, process, log, host=address)  # the VM answers on its veth address
        yield IaasHost(
            address=address, gateway=gateway, link=link, port=22, user=USER, client_key=client_key,
            known_hosts=known_hosts, host_public_key=host_public, netns=netns, pid=process.pid,
        )  # fmt: skip
    finally:
        if process is not None:
            _kill_namespace(process.pid)
            stop(process)
        subprocess.run([*ip, "netns", "del", netns], check=False)
        subprocess.run([*ip, "link", "del", veth], check=False, capture_output=True)
        shutil.rmtree(work_root, ignore_errors=True)


# ------------------------------------------------------------------------------ N VMs booting systemd


_BOOT_SYSTEMD = r"""
set -e
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$MERGED"
mount -t proc proc "$MERGED/proc"
mount --rbind /sys "$MERGED/sys"
mount -t tmpfs -o mode=755 tmpfs "$MERGED/run"
mount -t tmpfs -o mode=1777 tmpfs "$MERGED/tmp"
ip link set lo up
hostname "$VM_NAME"
export container=opcloud-test
exec chroot "$MERGED" /lib/systemd/systemd --log-target=console --log-level=warning
"""

# Units of the tree's packages that a fresh VM of ours does not run until opcloud configures it.
_MASKED_UNITS = (
    "postgresql.service", "postgresql@15-main.service", "console-getty.service",
    "getty@.service", "getty-static.service", "rpcbind.service", "rpcbind.socket", "run-rpc_pipefs.mount",
    "nfs-client.target", "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
)  # fmt: skip


class IaasNetwork:
    """N disposable Debian VMs booting systemd (PID 1 of their own PID namespace), each in its own network
    namespace, on one Linux bridge whose address is the test machine's side (`gateway`)."""

    def __init__(self, count: int) -> None:
        if os.geteuid() != 0:
            pytest.fail("the IaaS test VMs need root (namespaces, overlayfs, chroot)")
        self.lower = cached_root()
        self.work_root = Path(tempfile.mkdtemp(prefix="opcloud-vms-"))
        tag = os.getpid() % 250 + 1
        self.bridge = f"obr{os.getpid()}"[:15]
        self.gateway, self.link = f"10.214.{tag}.1", f"10.214.{tag}.0/24"
        self.prefix = f"10.214.{tag}"
        self.client_key = self.work_root / "client_ed25519"
        self.client_public = keygen(self.client_key, "opcloud-vms-client")
        self.known_hosts = self.work_root / "known_hosts"
        self.vms: list[IaasHost] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._netns: list[str] = []
        self._veths: list[str] = []
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        try:
            for index in range(count):
                self.vms.append(self._boot(index))
        except BaseException:
            self.close()
            raise

    def _boot(self, index: int) -> IaasHost:
        name = f"vm{index + 1}"
        root = self.work_root / name
        upper, work, merged = root / "upper", root / "work", root / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        host_key = root / "host_ed25519"
        host_public = keygen(host_key, f"opcloud-{name}")
        _upper_layer(self.lower, upper, self.client_public, host_key)
        _write(upper / "etc/hostname", f"{name}\n")
        _write(upper / "etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {name}\n")
        for unit in _MASKED_UNITS:
            (upper / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
            (upper / "etc/systemd/system" / unit).symlink_to("/dev/null")
        netns, veth = f"opcloud-vm-{os.getpid()}-{index}", f"ov{os.getpid()}x{index}"[:15]
        address = f"{self.prefix}.{10 + index}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        self._netns.append(netns)
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns], check=True)
        self._veths.append(veth)
        subprocess.run(["ip", "link", "set", veth, "master", self.bridge, "up"], check=True)
        subprocess.run(["ip", "-n", netns, "addr", "add", f"{address}/24", "dev", "eth0"], check=True)
        with self.known_hosts.open("a") as known:
            known.write(f"{address} {' '.join(host_public.split()[:2])}\n")
        vm = IaasHost(
            address=address, gateway=self.gateway, link=self.link, port=22, user=USER, client_key=self.client_key,
            known_hosts=self.known_hosts, host_public_key=host_public, netns=netns, pid=0,
        )  # fmt: skip
        self._start(vm, name)
        return vm

    def restart(self, vm: IaasHost) -> None:
        """Power a killed VM on again: the same disk (its overlay's upper layer), a fresh boot."""
        index = [v.address for v in self.vms].index(vm.address)
        self._start(vm, f"vm{index + 1}")

    def _start(self, vm: IaasHost, name: str) -> None:
        root = self.work_root / name
        upper, work, merged = root / "upper", root / "work", root / "merged"
        netns = vm.netns
        subprocess.run(["ip", "-n", netns, "link", "set", "eth0", "up"], check=True)
        log = root / "console.log"
        process = start(
            ["ip", "netns", "exec", netns, "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child",
             "bash", "-c", _BOOT_SYSTEMD],
            log,
            env={"LOWER": str(self.lower), "UPPER": str(upper), "WORK": str(work), "MERGED": str(merged),
                 "VM_NAME": name},
        )  # fmt: skip
        self._processes.append(process)
        wait_for_port(22, process, log, timeout=120, host=vm.address)
        vm.pid = process.pid

    def kill(self, vm: IaasHost) -> None:
        """Pull the plug: every process of the VM dies at once (its PID namespace's init is killed) and its
        link goes down (an address it held, such as a virtual one, no longer answers)."""
        _kill_namespace(vm.pid)
        subprocess.run(["ip", "-n", vm.netns, "link", "set", "eth0", "down"], check=False)

    def close(self) -> None:
        for process in self._processes:
            _kill_namespace(process.pid)
            stop(process)
        # The host side of each pair goes explicitly: a namespace the kernel frees late would keep it.
        for veth in self._veths:
            subprocess.run(["ip", "link", "del", veth], check=False, capture_output=True)
        for netns in self._netns:
            subprocess.run(["ip", "netns", "del", netns], check=False)
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
        shutil.rmtree(self.work_root, ignore_errors=True)


def _kill_namespace(unshare_pid: int) -> None:
    """SIGKILL the PID namespace's init (unshare's child): the kernel then kills every process in it, even
    the ones that left our process group (sshd -D calls setsid, pg_ctlcluster daemonizes PostgreSQL)."""
    import contextlib
    import signal

    children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children")
    with contextlib.suppress(OSError):
        for pid in children.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


__all__ = ["IaasHost", "IaasNetwork", "cached_root", "iaas_host"]
