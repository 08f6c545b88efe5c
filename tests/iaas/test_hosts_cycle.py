"""`opcloud hosts check/apply` against the test VM: drift reported, apply converges, a second apply changes
nothing, hand-made drift is found and repaired. The firewall is real nftables in the VM's own netns."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opcloud.cli import app
from tests.iaas.conftest import CHAP_ENV, write_environment
from tests.servers.iaas_host import IaasHost

API = ["--host", "vm-api"]


@pytest.fixture(scope="module")
def env_file(iaas_host: IaasHost, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_environment(tmp_path_factory.mktemp("env"), iaas_host)


def hosts(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["hosts", *args, "--json"])
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout)


def statuses(report: dict) -> dict[str, str]:
    return {s["step"]: s["status"] for s in report["steps"]}


def _refused(address: str, port: int) -> bool:
    """True when the VM answers a closed port with a reset; False when the packet is silently dropped."""
    try:
        with socket.create_connection((address, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def test_check_apply_cycle(env_file: Path, iaas_host: IaasHost) -> None:
    assert _refused(iaas_host.address, 9)  # no firewall yet: a closed port answers

    code, report = hosts("check", str(env_file), *API)
    assert code == 1
    first = statuses(report)
    assert first["packages"] == "ok"  # the image has them
    assert first["firewall"] == first["app-api"] == first["audit-rules"] == "drift"
    drift = {s["step"]: s["drift"] for s in report["steps"]}
    assert any("nftables" in reason or "opcloud.nft" in reason for reason in drift["firewall"])
    assert (
        iaas_host.sh("test -e /etc/nftables.d/opcloud.nft || echo absent").strip() == "absent"
    )  # check changed nothing

    code, report = hosts("apply", str(env_file), *API)
    assert code == 0, report
    assert statuses(report) == {
        "packages": "ok", "firewall": "changed", "app-api": "changed", "audit-rules": "changed",
        "log-shipping": "changed", "vulnerability-scan": "changed",
    }  # fmt: skip

    code, report = hosts("apply", str(env_file), *API)
    assert code == 0
    assert set(statuses(report).values()) == {"ok"}, report
    code, report = hosts("check", str(env_file), *API)
    assert code == 0 and set(statuses(report).values()) == {"ok"}

    # What apply left on the VM: a live allow-list, units enabled, audit rules.
    ruleset = iaas_host.sh("nft list table inet opcloud")
    assert "policy drop" in ruleset and f"tcp dport 22 ip saddr {iaas_host.link} accept" in ruleset
    assert "tcp dport 443 ip saddr 198.51.100.0/24 accept" in ruleset
    assert not _refused(iaas_host.address, 9)  # now dropped, not answered
    assert iaas_host.sh("systemctl --root=/ is-enabled prozorro-api.service nftables.service").split() == [
        "enabled", "enabled",
    ]  # fmt: skip
    assert "-w /etc/crypttab -p wa -k opcloud-storage" in iaas_host.sh("cat /etc/audit/rules.d/50-opcloud.rules")


def test_hand_made_drift_is_found_and_repaired(env_file: Path, iaas_host: IaasHost) -> None:
    hosts("apply", str(env_file), *API)
    iaas_host.sh(
        "nft add rule inet opcloud input tcp dport 8080 accept; chmod 600 /etc/systemd/system/prozorro-api.service"
    )
    code, report = hosts("check", str(env_file), *API)
    assert code == 1
    assert statuses(report)["firewall"] == "drift" and statuses(report)["app-api"] == "drift"
    code, report = hosts("apply", str(env_file), *API)
    assert code == 0 and statuses(report)["firewall"] == "changed"
    assert "8080" not in iaas_host.sh("nft list table inet opcloud")


def test_unknown_host_key_fails_every_step_with_one_line(env_file: Path, iaas_host: IaasHost, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = CliRunner().invoke(app, ["hosts", "check", str(env_file), *API, "--known-hosts", str(empty)])
    assert result.exit_code == 1
    assert "unknown host key" in result.output
    code, report = hosts("check", str(env_file), *API, "--known-hosts", str(empty))
    assert code == 1 and len(report["steps"]) == 6
    assert all(s["status"] == "failed" and "unknown host key" in s["detail"] for s in report["steps"])


def test_apply_stops_a_host_at_its_first_failed_step(
    env_file: Path, iaas_host: IaasHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CHAP password is not set: the iSCSI step fails before anything reaches the VM, naming the reference.
    monkeypatch.delenv(CHAP_ENV, raising=False)
    only = ["--host", "vm-db", "--step", "iscsi-attach", "--step", "luks"]
    code, report = hosts("apply", str(env_file), *only)
    assert code == 1
    assert statuses(report) == {"iscsi-pgdata": "failed", "luks-pgdata": "skipped"}
    assert CHAP_ENV in report["steps"][0]["detail"]
    # check mode checks every step, whatever the one before found.
    code, report = hosts("check", str(env_file), *only)
    assert set(statuses(report)) == {"iscsi-pgdata", "luks-pgdata"} and "skipped" not in statuses(report).values()


def test_unknown_host_name_is_exit_2(env_file: Path) -> None:
    result = CliRunner().invoke(app, ["hosts", "apply", str(env_file), "--host", "vm-nope"])
    assert result.exit_code == 2
    assert "unknown host 'vm-nope'" in result.output and "vm-api" in result.output


def test_bad_environment_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  opcloud:cloud: iaas\n")
    result = CliRunner().invoke(app, ["hosts", "check", str(bad)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()  # every missing key at once, one line each
    assert all(line.startswith(f"error: {bad}: opcloud:") for line in lines)
    assert any(line.endswith("opcloud:platform: missing value") for line in lines)
