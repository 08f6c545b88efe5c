"""Steps that need the kernel's iSCSI initiator, device-mapper or NFS client (not available here): their
scripts run over SSH on the test VM against prepared state, so what decides ok / drift is exercised for
real, and apply goes as far as user space allows (LUKS format with the key over stdin, fstab entries)."""

from __future__ import annotations

import pytest
from opcloud.hosts.runner import RunOptions, executor_for, run_step
from opcloud.hosts.script import Step
from opcloud.hosts.ssh import SshExecutor

from opcloud.config.environment import Environment, from_config, read_config_file
from tests.iaas.conftest import CHAP_ENV, LUKS_ENV, write_environment
from tests.servers.iaas_host import IaasHost

IQN = "iqn.2024-01.test.opcloud:pgdata"
DEVICE = f"/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-{IQN}-lun-1"
LUKS_KEY = "Luks-Key-never-on-disk-9f2"


@pytest.fixture(scope="module")
def db(iaas_host: IaasHost, tmp_path_factory: pytest.TempPathFactory) -> tuple[Environment, dict[str, Step]]:
    path = write_environment(tmp_path_factory.mktemp("env"), iaas_host)
    environment = from_config(read_config_file(path)[0], str(path))
    from opcloud.hosts.plan import plan

    steps = {s.name: s for p in plan(environment) if p.host.name == "vm-db" for s in p.steps}
    return environment, steps


@pytest.fixture
def ssh(db: tuple[Environment, dict[str, Step]], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(LUKS_ENV, LUKS_KEY)
    monkeypatch.setenv(CHAP_ENV, "chap-Pass-1234")
    environment, _ = db
    host = environment.inventory.host("vm-db")  # type: ignore[union-attr]
    with executor_for(environment, host, RunOptions()) as executor:
        yield executor


def _run(ssh: SshExecutor, step: Step, mode: str = "check"):  # type: ignore[no-untyped-def]
    return run_step(ssh, step, mode, RunOptions())  # type: ignore[arg-type]


def test_iscsi_attach_decides_on_node_record_and_device(iaas_host: IaasHost, db, ssh) -> None:  # type: ignore[no-untyped-def]
    step = db[1]["iscsi-pgdata"]
    outcome = _run(ssh, step)
    assert outcome.status == "drift" and "no node record" in outcome.drift_reasons[0]
    node = f"/etc/iscsi/nodes/{IQN}/127.0.0.1,3260,1"
    iaas_host.sh(
        f"mkdir -p {node} && "
        f"printf 'node.startup = manual\\nnode.session.auth.username = opcloud-test\\n' > {node}/default"
    )
    assert "not automatic" in _run(ssh, step).drift_reasons[0]
    iaas_host.sh(f"sed -i 's/manual/automatic/' {node}/default")
    assert "not logged in" in _run(ssh, step).drift_reasons[0]
    iaas_host.sh(f"mkdir -p /dev/disk/by-path && truncate -s 32M '{DEVICE}'")  # a file stands in for the disk
    assert _run(ssh, step).status == "ok"
    # apply needs iscsiadm to log in, which this kernel cannot: it fails, and says so.
    iaas_host.sh(f"rm '{DEVICE}'")
    outcome = _run(ssh, step, "apply")
    assert outcome.status == "failed" and "chap-Pass-1234" not in outcome.output
    iaas_host.sh(f"truncate -s 32M '{DEVICE}'")


def test_luks_formats_with_the_key_from_stdin_and_never_stores_it(iaas_host: IaasHost, db, ssh) -> None:  # type: ignore[no-untyped-def]
    step = db[1]["luks-pgdata"]
    iaas_host.sh(f"mkdir -p /dev/disk/by-path && truncate -s 32M '{DEVICE}' && wipefs -a '{DEVICE}' >/dev/null || true")
    assert "not a LUKS volume" in _run(ssh, step).drift_reasons[0]
    outcome = _run(ssh, step, "apply")
    # luksFormat works on the file; opening needs device-mapper, which the kernel here lacks.
    assert outcome.status == "failed"
    assert LUKS_KEY not in outcome.output
    # The header is real and the key that reached cryptsetup is the one we sent.
    iaas_host.sh(f"printf %s '{LUKS_KEY}' | cryptsetup open --test-passphrase --key-file=- '{DEVICE}'")
    leaked = iaas_host.sh(f"grep -rlsF '{LUKS_KEY}' /etc /var /tmp /root /home /run || true")
    assert leaked.strip() == ""
    # A device holding another signature is never formatted.
    iaas_host.sh(f"mkfs.ext4 -q -F '{DEVICE}'")
    outcome = _run(ssh, step, "apply")
    assert outcome.status == "failed" and "refusing to format" in outcome.output
    # Prepared unlocked state: LUKS header, crypttab entry by UUID, mapping present -> ok.
    iaas_host.sh(
        f"wipefs -a '{DEVICE}' >/dev/null; printf %s k3y-for-test | cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 "
        f"--pbkdf-force-iterations 1000 --batch-mode --key-file=- '{DEVICE}'; uuid=$(cryptsetup luksUUID '{DEVICE}');"
        ' echo "opcloud-pgdata UUID=$uuid none luks,noauto,_netdev" > /etc/crypttab'
    )
    assert "is locked" in _run(ssh, step).drift_reasons[0]
    iaas_host.sh("mkdir -p /dev/mapper && touch /dev/mapper/opcloud-pgdata")
    assert _run(ssh, step).status == "ok"


def test_filesystem_by_uuid_in_fstab_and_mounted(iaas_host: IaasHost, db, ssh) -> None:  # type: ignore[no-untyped-def]
    step = db[1]["fs-pgdata"]
    iaas_host.sh(
        "mkdir -p /dev/mapper && rm -f /dev/mapper/opcloud-pgdata && truncate -s 32M /dev/mapper/opcloud-pgdata"
    )
    assert "no ext4 filesystem" in _run(ssh, step).drift_reasons[0]
    iaas_host.sh("mkfs.ext4 -q -F /dev/mapper/opcloud-pgdata")
    assert "fstab entry" in _run(ssh, step).drift_reasons[0]
    outcome = _run(ssh, step, "apply")  # writes fstab, then mount needs a loop device: fails here
    fstab = iaas_host.sh("cat /etc/fstab")
    uuid = iaas_host.sh("blkid -o value -s UUID /dev/mapper/opcloud-pgdata").strip()
    assert f"UUID={uuid} /srv/pgdata ext4 noatime,nodev,nosuid,nofail,_netdev 0 2" in fstab
    if outcome.status == "failed":
        assert "not mounted" in _run(ssh, step).drift_reasons[0]
        iaas_host.sh("mkdir -p /srv/pgdata && mount -t tmpfs tmpfs /srv/pgdata")  # stands in for the volume
    assert _run(ssh, step).status == "ok"
    assert _run(ssh, step, "apply").status == "ok"  # idempotent: nothing to do


def test_nfs_mount_fstab_options(iaas_host: IaasHost, db, ssh) -> None:  # type: ignore[no-untyped-def]
    step = db[1]["nfs-backups"]
    assert "fstab entry" in _run(ssh, step).drift_reasons[0]
    outcome = _run(ssh, step, "apply")
    assert outcome.status == "failed"  # no NFS client in this kernel
    line = next(x for x in iaas_host.sh("cat /etc/fstab").splitlines() if " /srv/pgbackrest " in x)
    assert line.startswith(
        "127.0.0.1:/opcloud-test/documents /srv/pgbackrest nfs4 nfsvers=4.2,proto=tcp,port=2049,hard,"
    )
    assert "sec=krb5p" in line and "_netdev" in line
    assert "is not mounted" in _run(ssh, step).drift_reasons[0]
    # A second apply does not duplicate the entry.
    _run(ssh, step, "apply")
    assert iaas_host.sh("grep -c ' /srv/pgbackrest ' /etc/fstab").strip() == "1"


def test_postgres_on_the_volume_with_tls_and_pgbackrest(iaas_host: IaasHost, db, ssh) -> None:  # type: ignore[no-untyped-def]
    steps = db[1]
    iaas_host.sh(
        "mountpoint -q /srv/pgdata || { mkdir -p /srv/pgdata; mount -t tmpfs tmpfs /srv/pgdata; }; "
        "mkdir -p /srv/pgbackrest"
    )
    assert _run(ssh, steps["postgresql"]).status == "drift"
    # The image's package-made cluster lives on the root disk: apply refuses to guess what to do with it.
    outcome = _run(ssh, steps["postgresql"], "apply")
    assert outcome.status == "failed" and "exists outside /srv/pgdata/15/main" in outcome.output
    iaas_host.sh("pg_dropcluster 15 main --stop")
    outcome = _run(ssh, steps["postgresql"], "apply")
    assert outcome.status == "changed", outcome.output
    assert _run(ssh, steps["postgresql"], "apply").status == "ok"
    show = iaas_host.sh(
        "runuser -u postgres -- psql -tA -c 'show ssl' -c 'show data_directory' -c 'show archive_timeout'"
    )
    assert show.split() == ["on", "/srv/pgdata/15/main", "5min"]
    outcome = _run(ssh, steps["pgbackrest"], "apply")
    assert outcome.status == "changed", outcome.output
    assert _run(ssh, steps["pgbackrest"], "apply").status == "ok"
    assert (
        iaas_host.sh("systemctl --root=/ is-enabled pgbackrest-full.timer pgbackrest-diff.timer").split()
        == ["enabled"] * 2
    )
    # WAL reaches the repository through archive_command.
    iaas_host.sh("runuser -u postgres -- pgbackrest --stanza=prozorro-test check >/dev/null")
