"""Releases delivered by `opcloud hosts apply` into disposable Debian VMs running systemd: a real HTTPS service
answers its health path over TLS, a second version rolls host by host, a broken one is switched back on the
first host and the roll stops there; the rendered cloud-init brings the same service up on a fresh VM."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
from pathlib import Path

import pytest
import yaml
from opcloud.hosts.release import cloud_init, release_step
from opcloud.hosts.script import render
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import Environment, from_config, open_stack
from tests.iaas.release_fixtures import (
    DOMAIN,
    SECRET_ENV,
    Artifact,
    Tls,
    build_artifact,
    write_release_environment,
)
from tests.servers.iaas_host import IaasHost, IaasNetwork

DB_PASSWORD = "db-password-for-the-release-test-7f3a"
API_HOSTS = ["--host", "api-1", "--host", "api-2"]


# How many disposable VMs this module's network boots (the `net` fixture, tests/iaas/conftest.py).
VMS = 3


@pytest.fixture(autouse=True)
def _db_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, DB_PASSWORD)


def environment_for(net: IaasNetwork, files: Path, tls: Tls, store: str, api: Artifact, docs: Artifact) -> Path:
    return write_release_environment(
        files, net, tls, (f"{store}/{api.name}", api), (f"{store}/{docs.name}", docs), health_timeout=8
    )


def hosts(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["hosts", *args, "--json"])
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout)


def failures(report: dict) -> list[tuple[str, str, str]]:
    return [(s["host"], s["step"], s["detail"]) for s in report["steps"] if s["status"] != "ok"]


def release_rows(report: dict) -> list[tuple[str, str, str]]:
    return [(s["host"], s["status"], s["detail"]) for s in report["steps"] if s["kind"] == "release"]


def https_get(vm: IaasHost, path: str, tls: Tls) -> tuple[int, str]:
    """GET over TLS from this machine, the certificate verified for the platform's domain."""
    context = ssl.create_default_context(cafile=str(tls.certificate))
    with (
        socket.create_connection((vm.address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as conn,
    ):
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {DOMAIN}\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def started(vm: IaasHost, service: str = "prozorro-api.service") -> str:
    return vm.sh(f"systemctl show -P ExecMainStartTimestampMonotonic {service}").strip()


def test_release_delivered_rolled_and_a_broken_one_switched_back(
    net: IaasNetwork, files: Path, tls: Tls, store: str
) -> None:
    api_1, api_2 = net.vms[0], net.vms[1]
    v1, v2 = build_artifact(files, "1.0.0"), build_artifact(files, "2.0.0")
    broken = build_artifact(files, "3.0.0", healthy=False)

    # 1.0.0 onto both api hosts, with every other step of theirs (firewall, audit, log shipping).
    env = environment_for(net, files, tls, store, v1, v1)
    code, report = hosts("apply", str(env), *API_HOSTS)
    assert code == 0, failures(report)
    assert release_rows(report) == [("api-1", "changed", ""), ("api-2", "changed", "")]
    for vm in (api_1, api_2):
        assert https_get(vm, "/health", tls) == (200, "ok 1.0.0")  # through the VM's nftables allow-list
        info = json.loads(https_get(vm, "/info", tls)[1])
        assert info["version"] == "1.0.0" and info["uid"] != 0 and info["greeting"] == "hello from the environment"
        assert info["db_password_sha256"] == hashlib.sha256(DB_PASSWORD.encode()).hexdigest()
        assert info["secret_in_environment"] is False
        assert info["writes_usr"] is False and info["writes_opt"] is False  # ProtectSystem=strict holds
    # Secrets reached no disk: every write of a VM lands in its overlay's upper layer (/run is RAM).
    for index in (1, 2):
        upper = net.work_root / f"vm{index}" / "upper"
        assert not [p for p in upper.rglob("*") if p.is_file() and DB_PASSWORD.encode() in p.read_bytes()]
        assert not [p for p in upper.rglob("*") if p.is_file() and tls.key.read_bytes() in p.read_bytes()]
    code, report = hosts("apply", str(env), *API_HOSTS)
    assert code == 0 and {s["status"] for s in report["steps"]} == {"ok"}, report

    # 2.0.0 rolls: api-1 first, then api-2; each switched and healthy.
    before = {vm.address: started(vm) for vm in (api_1, api_2)}
    env = environment_for(net, files, tls, store, v2, v1)
    code, report = hosts("apply", str(env), *API_HOSTS)
    assert code == 0, report
    assert release_rows(report) == [("api-1", "changed", ""), ("api-2", "changed", "")]
    after = {vm.address: started(vm) for vm in (api_1, api_2)}
    assert all(after[a] != before[a] for a in after)
    assert int(after[api_1.address]) < int(after[api_2.address])  # api-1 restarted (and answered) first
    for vm in (api_1, api_2):
        assert https_get(vm, "/health", tls) == (200, "ok 2.0.0")
        assert vm.sh("readlink /opt/prozorro/api/current").strip() == f"releases/2.0.0-{v2.sha256[:12]}"

    # 3.0.0 answers 503: api-1 is switched back to 2.0.0 and the roll stops; api-2 is not touched.
    untouched = started(api_2)
    env = environment_for(net, files, tls, store, broken, v1)
    code, report = hosts("apply", str(env), *API_HOSTS)
    assert code == 1
    (host_1, status_1, detail_1), (host_2, status_2, detail_2) = release_rows(report)
    assert (host_1, status_1) == ("api-1", "failed")
    assert "3.0.0 did not answer" in detail_1 and "switched back to 2.0.0" in detail_1, detail_1
    assert (host_2, status_2, detail_2) == ("api-2", "skipped", "the roll stopped at api-1/release-api")
    for vm in (api_1, api_2):
        assert https_get(vm, "/health", tls) == (200, "ok 2.0.0")
        assert vm.sh("readlink /opt/prozorro/api/current").strip() == f"releases/2.0.0-{v2.sha256[:12]}"
    assert started(api_2) == untouched
    # check says exactly where the environment and the hosts differ.
    code, report = hosts("check", str(env), *API_HOSTS, "--step", "release")
    assert code == 1
    drift = {s["host"]: s["drift"] for s in report["steps"]}
    assert drift["api-1"] == [f"current is releases/2.0.0-{v2.sha256[:12]}, wanted releases/3.0.0-{broken.sha256[:12]}"]
    assert drift["api-2"] == ["release 3.0.0 is not unpacked"]


def test_an_artifact_whose_hash_differs_is_refused(net: IaasNetwork, files: Path, tls: Tls, store: str) -> None:
    api_1 = net.vms[0]
    good = build_artifact(files, "4.0.0")
    lying = Artifact(good.name, "0" * 64, good.version)
    env = environment_for(net, files, tls, store, lying, lying)
    current = api_1.sh("readlink /opt/prozorro/api/current || true").strip()
    code, report = hosts("apply", str(env), "--host", "api-1", "--step", "release")
    assert code == 1
    [(_, status, detail)] = release_rows(report)
    assert status == "failed" and f"has SHA-256 {good.sha256}, not {'0' * 64}: refused" in detail
    assert api_1.sh("readlink /opt/prozorro/api/current || true").strip() == current
    assert api_1.sh("ls -A /opt/prozorro/api/releases").split().count("4.0.0-000000000000") == 0
    assert ".incoming" not in api_1.sh("ls -A /opt/prozorro/api/releases")  # nothing half-written left


def _environment(path: Path) -> Environment:
    stack = open_stack(str(path))
    return from_config(stack.config, str(path))


def test_cloud_init_runs_the_same_script_and_brings_the_service_up(
    net: IaasNetwork, files: Path, tls: Tls, store: str
) -> None:
    docs_vm = net.vms[2]
    v1 = build_artifact(files, "1.0.0")
    environment = _environment(environment_for(net, files, tls, store, v1, v1))
    commands = {
        "TLS_CERT": "cat /run/instance-secrets/tls.crt",
        "TLS_KEY": "cat /run/instance-secrets/tls.key",
        "SECRET_DB_PASSWORD": "cat /run/instance-secrets/db-password",
    }
    document = cloud_init(environment, "docs", commands)
    assert document.startswith("#cloud-config\n")
    config = yaml.safe_load(document)
    # The very script `opcloud hosts apply` sends, byte for byte but for its host name in the header comment.
    script = next(f["content"] for f in config["write_files"] if f["path"].endswith("release-docs.sh"))
    over_ssh = release_step(environment, "docs-1", "docs")
    assert script == render(over_ssh, "apply").replace("docs-1/release-docs", "cloud-init/release-docs")
    assert DB_PASSWORD not in document and tls.key.read_text() not in document

    # Stand-in for the instance's secret source (the instance role / managed identity's store), in RAM.
    docs_vm.sh(
        "install -d -m 700 /run/instance-secrets\n"
        f"printf %s {base64.b64encode(tls.certificate.read_bytes()).decode()} | base64 -d "
        "> /run/instance-secrets/tls.crt\n"
        f"printf %s {base64.b64encode(tls.key.read_bytes()).decode()} | base64 -d > /run/instance-secrets/tls.key\n"
        f"printf %s {DB_PASSWORD} > /run/instance-secrets/db-password\n"
    )
    # What cloud-init's modules do with the document: packages present, write_files, then runcmd.
    missing = docs_vm.sh(f"for p in {' '.join(config['packages'])}; do dpkg -s $p >/dev/null 2>&1 || echo $p; done")
    assert missing.strip() == ""
    for entry in config["write_files"]:
        encoded = base64.b64encode(entry["content"].encode()).decode()
        docs_vm.sh(
            f"install -d $(dirname {entry['path']})\nprintf %s {encoded} | base64 -d > {entry['path']}\n"
            f"chmod {entry['permissions']} {entry['path']}\nchown {entry['owner']} {entry['path']}\n"
        )
    for command in config["runcmd"]:
        output = docs_vm.sh(" ".join(command))
        assert output.strip().endswith("@@opcloud changed"), output
    assert https_get(docs_vm, "/health", tls) == (200, "ok 1.0.0")
    info = json.loads(https_get(docs_vm, "/info", tls)[1])
    assert info["uid"] != 0 and info["writes_usr"] is False
    # A second boot's run changes nothing.
    assert docs_vm.sh(" ".join(config["runcmd"][0])).strip().endswith("@@opcloud ok")


def test_cloud_init_refuses_a_secret_it_cannot_read(tmp_path: Path) -> None:
    stack = open_stack("prozorro-ua-prod")
    environment = from_config(stack.config, str(stack.path))
    with pytest.raises(
        ValueError, match=r"no command reads the secret SECRET_DB_PASSWORD \(config:iaas:apiDbPassword\)"
    ):
        cloud_init(environment, "api", {"TLS_CERT": "true"})
