"""`opcloud hosts preflight` against a real tgt iSCSI target (CHAP), a real nfs-ganesha NFSv4 export and the
test VM's sshd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opcloud.hosts.preflight import parse_iscsi_ls
from typer.testing import CliRunner

from opcloud.cli import app
from tests.iaas.conftest import CHAP_ENV, CHAP_TARGET_ENV, write_environment
from tests.servers.ganesha import NfsExport
from tests.servers.iaas_host import IaasHost
from tests.servers.tgt import IscsiTarget


def _preflight(env: Path) -> tuple[int, dict[str, dict]]:
    result = CliRunner().invoke(app, ["hosts", "preflight", str(env), "--json"])
    assert result.stdout.strip(), result.output
    probes = json.loads(result.stdout)["probes"]
    return result.exit_code, {f"{p['kind']}:{p['name'].split(' ')[0]}": p for p in probes}


def _env(tmp_path: Path, vm: IaasHost, target: IscsiTarget, nfs: NfsExport, **overrides: object) -> Path:
    values = dict(portal=target.portal, iqn=target.iqn, lun=target.lun, chap_user=target.chap_user,
                  nfs_server=nfs.server, nfs_port=nfs.port, nfs_export=nfs.export)  # fmt: skip
    values.update(overrides)
    return write_environment(tmp_path, vm, **values)  # type: ignore[arg-type]


def test_everything_answers(
    tmp_path: Path, iaas_host: IaasHost, tgt_target: IscsiTarget, ganesha_export: NfsExport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(CHAP_ENV, tgt_target.chap_password)
    code, probes = _preflight(_env(tmp_path, iaas_host, tgt_target, ganesha_export))
    assert code == 0, probes
    assert set(probes) == {"ssh:vm-api", "ssh:vm-docs", "ssh:vm-db", "iscsi:pgdata", "nfs:documents", "nfs:backups"}
    assert all(p["ok"] for p in probes.values())


def test_failures_are_named_and_secrets_stay_hidden(
    tmp_path: Path, iaas_host: IaasHost, tgt_target: IscsiTarget, ganesha_export: NfsExport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(CHAP_ENV, "wrong-Chap-password")
    env = _env(tmp_path, iaas_host, tgt_target, ganesha_export, nfs_export="/not/exported")
    result = CliRunner().invoke(app, ["hosts", "preflight", str(env), "--json"])
    assert result.exit_code == 1
    assert "wrong-Chap-password" not in result.output and tgt_target.chap_password not in result.output
    probes = {p["kind"]: p for p in json.loads(result.stdout)["probes"]}
    assert not probes["iscsi"]["ok"] and not probes["nfs"]["ok"] and probes["ssh"]["ok"]


def test_wrong_lun_and_target(
    tmp_path: Path, iaas_host: IaasHost, tgt_target: IscsiTarget, ganesha_export: NfsExport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(CHAP_ENV, tgt_target.chap_password)
    code, probes = _preflight(_env(tmp_path, iaas_host, tgt_target, ganesha_export, lun=7))
    assert code == 1 and "LUN 7 missing" in probes["iscsi:pgdata"]["detail"]
    other = tmp_path / "other"
    other.mkdir()
    code, probes = _preflight(_env(other, iaas_host, tgt_target, ganesha_export, iqn="iqn.2024-01.test.opcloud:nope"))
    assert code == 1 and "target not offered" in probes["iscsi:pgdata"]["detail"]


def test_mutual_chap_the_target_must_prove_itself(
    tmp_path: Path, iaas_host: IaasHost, tgt_target: IscsiTarget, ganesha_export: NfsExport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(CHAP_ENV, tgt_target.chap_password)
    monkeypatch.setenv(CHAP_TARGET_ENV, tgt_target.target_chap_password)
    env = _env(tmp_path, iaas_host, tgt_target, ganesha_export, chap_target_user=tgt_target.target_chap_user)
    code, probes = _preflight(env)
    assert code == 0 and probes["iscsi:pgdata"]["ok"], probes
    # A target that cannot answer with the secret we hold (an impostor, or a wrong one) is refused.
    monkeypatch.setenv(CHAP_TARGET_ENV, "not-the-target-secret")
    result = CliRunner().invoke(app, ["hosts", "preflight", str(env), "--json"])
    assert result.exit_code == 1
    assert "not-the-target-secret" not in result.output and tgt_target.target_chap_password not in result.output
    probes = {p["kind"]: p for p in json.loads(result.stdout)["probes"] if p["kind"] == "iscsi"}
    assert not probes["iscsi"]["ok"] and "mutual CHAP: " in probes["iscsi"]["detail"], probes
    assert "Invalid CHAP_R" in probes["iscsi"]["detail"]


def test_parse_iscsi_ls() -> None:
    output = "Target:iqn.a:x Portal:127.0.0.1:3260,1\nLun:0    Type:CONTROLLER\nLun:1    Type:DIRECT_ACCESS\n"
    assert parse_iscsi_ls(output) == {"iqn.a:x": {0, 1}}
