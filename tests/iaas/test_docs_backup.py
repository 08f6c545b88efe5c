"""The documents share's restic backup on the test VM: `opcloud hosts apply` creates the repository on the backup
mount, a run of the unit's command makes a snapshot, and `restic restore` gives the documents back byte for byte.

The kernel here has no NFS client, so tmpfs mounts stand in for the documents share and the second-site backup
share (as tests/iaas/test_prepared_state.py does): the steps check that they are mount points, not NFS."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opcloud.cli import app
from tests.iaas.conftest import RESTIC_ENV, write_environment
from tests.servers.iaas_host import IaasHost

PASSWORD = "restic-Pass-never-in-logs-5b1"
REPO = "/srv/pgbackrest/restic/documents"
PASSWORD_FILE = "/etc/opcloud/restic-documents.password"
UNIT = "/etc/systemd/system/opcloud-docs-backup-documents"
ONLY = ["--host", "vm-docs", "--step", "documents-backup"]
# name -> bytes: binary, empty, nested, a space and non-ASCII in the name
DOCUMENTS = {
    "tender-001/contract.pdf": os.urandom(300_000),
    "tender-001/empty.txt": b"",
    "tender-002/bid with space.docx": os.urandom(4096),
    "tender-002/підпис.p7s": b"signature\x00\xff" * 100,
}


@pytest.fixture(scope="module")
def env_file(iaas_host: IaasHost, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_environment(tmp_path_factory.mktemp("env"), iaas_host)


def hosts(*args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(app, ["hosts", *args, "--json"])
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout), result.output


def statuses(report: dict) -> dict[str, str]:
    return {s["step"]: s["status"] for s in report["steps"]}


def _restic(iaas_host: IaasHost, command: str) -> str:
    return iaas_host.sh(f"RESTIC_REPOSITORY={REPO} RESTIC_PASSWORD_FILE={PASSWORD_FILE} restic {command}")


def _stand_in_mounts(iaas_host: IaasHost) -> None:
    iaas_host.sh(
        "for m in /srv/documents /srv/pgbackrest; do mkdir -p $m; mountpoint -q $m || mount -t tmpfs tmpfs $m; done"
    )
    for name, data in DOCUMENTS.items():
        path = f"/srv/documents/{name}"
        iaas_host.sh(f"mkdir -p \"$(dirname '{path}')\" && base64 -d > '{path}' <<'EOF'\n{_b64(data)}\nEOF")


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_apply_backup_restore_byte_for_byte(
    env_file: Path, iaas_host: IaasHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESTIC_ENV, PASSWORD)
    _stand_in_mounts(iaas_host)

    code, report, _ = hosts("check", str(env_file), *ONLY)
    assert code == 1 and statuses(report) == {"docs-backup-documents": "drift"}
    reasons = report["steps"][0]["drift"]
    assert any("files" in r or "missing" in r for r in reasons), reasons

    code, report, output = hosts("apply", str(env_file), *ONLY)
    assert code == 0 and statuses(report) == {"docs-backup-documents": "changed"}, report
    assert PASSWORD not in output
    code, report, _ = hosts("apply", str(env_file), *ONLY)
    assert code == 0 and statuses(report) == {"docs-backup-documents": "ok"}, report

    # The repository is on the backup mount; the password only in a root-only file.
    assert iaas_host.sh(f"test -f {REPO}/config && echo yes").strip() == "yes"
    assert iaas_host.sh(f"stat -c %a:%U:%G {PASSWORD_FILE}").strip() == "600:root:root"
    holders = iaas_host.sh(f"grep -rlsF '{PASSWORD}' /etc /var /tmp /root /home /run /srv /usr/local || true")
    assert holders.split() == [PASSWORD_FILE]
    assert iaas_host.sh(
        f"systemctl --root=/ is-enabled {Path(UNIT).name}.timer {Path(UNIT).name}-maintain.timer"
    ).split() == ["enabled", "enabled"]
    assert "OnCalendar=*-*-* 01:00:00 UTC" in iaas_host.sh(f"cat {UNIT}.timer")
    assert "OnCalendar=Sun *-*-* 01:00:00 UTC" in iaas_host.sh(f"cat {UNIT}-maintain.timer")

    # A run of the service: exactly the unit's ExecStart (no systemd in the VM to start it).
    iaas_host.sh(f"$(sed -n 's/^ExecStart=//p' {UNIT}.service)")
    snapshots = json.loads(_restic(iaas_host, "snapshots --json"))
    assert len(snapshots) == 1 and snapshots[0]["paths"] == ["/srv/documents"]

    _restic(iaas_host, "restore latest --target /tmp/restored")
    restored = iaas_host.sh(
        "cd /tmp/restored/srv/documents && find . -type f -print0 | sort -z | xargs -0 sha256sum"
    ).splitlines()
    wanted = sorted(f"{hashlib.sha256(data).hexdigest()}  ./{name}" for name, data in DOCUMENTS.items())
    assert sorted(restored) == wanted

    # The weekly unit: forget to the retention with prune, then `restic check`.
    iaas_host.sh(f"$(sed -n 's/^ExecStart=//p' {UNIT}-maintain.service)")
    assert len(json.loads(_restic(iaas_host, "snapshots --json"))) == 1


def test_a_wrong_password_is_refused_and_the_hosts_file_kept(
    env_file: Path, iaas_host: IaasHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESTIC_ENV, PASSWORD)
    _stand_in_mounts(iaas_host)
    hosts("apply", str(env_file), *ONLY)
    before = iaas_host.sh(f"sha256sum {PASSWORD_FILE}")
    iaas_host.sh(f"rm {UNIT}.timer")  # some drift, so that apply runs
    monkeypatch.setenv(RESTIC_ENV, "not-the-repository-password")
    code, report, output = hosts("apply", str(env_file), *ONLY)
    assert code == 1 and statuses(report) == {"docs-backup-documents": "failed"}
    assert "not-the-repository-password" not in output
    assert iaas_host.sh(f"sha256sum {PASSWORD_FILE}") == before
    assert iaas_host.sh("ls /etc/opcloud | grep -c '[.]opcloud[.]' || true").strip() == "0"  # no temporary file
    monkeypatch.setenv(RESTIC_ENV, PASSWORD)
    code, report, _ = hosts("apply", str(env_file), *ONLY)
    assert code == 0 and statuses(report) == {"docs-backup-documents": "changed"}


def test_check_reports_an_uninitialised_repository_and_a_disabled_timer(
    env_file: Path, iaas_host: IaasHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESTIC_ENV, PASSWORD)
    _stand_in_mounts(iaas_host)
    hosts("apply", str(env_file), *ONLY)
    iaas_host.sh(f"mv {REPO} {REPO}.moved")
    try:
        code, report, _ = hosts("check", str(env_file), *ONLY)
        assert code == 1 and report["steps"][0]["drift"] == [f"restic repository {REPO} is not initialised"]
    finally:
        iaas_host.sh(f"mv {REPO}.moved {REPO}")
    iaas_host.sh("systemctl --root=/ disable --quiet opcloud-docs-backup-documents.timer")
    code, report, _ = hosts("check", str(env_file), *ONLY)
    assert code == 1 and report["steps"][0]["drift"] == ["opcloud-docs-backup-documents.timer is not enabled"]
    code, report, _ = hosts("apply", str(env_file), *ONLY)
    assert code == 0 and statuses(report) == {"docs-backup-documents": "changed"}
