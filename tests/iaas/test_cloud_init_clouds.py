"""The user data the AWS app tier renders, run inside a disposable Debian VM: the service comes up and answers
its health path over TLS on the port the target group probes. (Azure delivers the same files through its
release extension: tests/iaas/test_azure_release_extension.py.)

The cloud is stood in for inside the VM, nothing else: an `aws` command (the instance role's CLI) that prints
secrets from files the test put in /run and copies the artifact from the local HTTP store. The VM has no
cloud-init package, so the test does what cloud-init's modules do with the document: install `packages:` the
image lacks (Debian's .debs), `write_files:`, then `runcmd:`, in that order.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from opcloud.components.aws import release as aws_release
from opcloud.hosts.release import cloud_init

from opcloud.config.environment import Environment, from_config, open_stack
from tests.iaas.release_fixtures import (
    DOMAIN,
    SECRET_ENV,
    Tls,
    build_artifact,
    write_release_environment,
)
from tests.servers.iaas_host import IaasHost, IaasNetwork

DB_PASSWORD = "db-password-for-the-cloud-init-test-51e2"
REGION = "eu-west-1"
ARNS = {
    "TLS_CERT": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prozorro/release/tls-cert-Ab12Cd",
    "TLS_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prozorro/release/tls-key-Ef34Gh",
    "SECRET_DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prozorro/release/api/DB_PASSWORD-Ij56",
}
FAKE_AWS = r"""#!/bin/bash
# Stand-in for the AWS CLI with the instance role (test only).
set -eu
case "$1 $2" in
  "secretsmanager get-secret-value")
    shift 2; arn=; region=; query=; output=
    while [ $# -gt 0 ]; do
      case "$1" in
        --secret-id) arn=$2;; --region) region=$2;; --query) query=$2;; --output) output=$2;;
        *) echo "aws: unexpected $1" >&2; exit 2;;
      esac; shift 2
    done
    [ "$region" = @REGION@ ] && [ "$query" = SecretString ] && [ "$output" = text ] || exit 2
    cat "/run/instance-secrets/$(printf %s "$arn" | sha256sum | cut -c1-16)";;
  "s3 cp")
    shift 2; args=()
    while [ $# -gt 0 ]; do
      case "$1" in
        --only-show-errors) shift;; --region) [ "$2" = @REGION@ ] || exit 2; shift 2;; *) args+=("$1"); shift;;
      esac
    done
    case "${args[0]}" in s3://@BUCKET@/*) ;; *) echo "aws: not the platform bucket: ${args[0]}" >&2; exit 1;; esac
    exec /usr/bin/curl -fsS -o "${args[1]}" "@STORE@/${args[0]##*/}";;
  *) echo "aws: unexpected $*" >&2; exit 2;;
esac
"""

# How many disposable VMs this module's network boots (the `net` fixture, tests/iaas/conftest.py).
VMS = 1


@pytest.fixture(scope="module")
def environment(net: IaasNetwork, files: Path, tls: Tls, store: str) -> Environment:
    v1 = build_artifact(files, "1.0.0")
    # The artifact's URL as the release names it; the clouds' fetch commands reach it through their stand-ins.
    hosts = [
        {"name": "api-1", "address": net.vms[0].address, "roles": ["api"]},
        {"name": "docs-1", "address": f"{net.prefix}.251", "roles": ["docs"]},  # never contacted
    ]
    artifact = (f"{store}/{v1.name}", v1)
    path = write_release_environment(files, net, tls, artifact, artifact, hosts=hosts)
    stack = open_stack(str(path))
    return from_config(stack.config, str(path))


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """jq and its libraries, should the user data name them in `packages:` (the VM image lacks them; from the
    Debian mirror apt uses, as the VM image itself was built)."""
    directory = tmp_path_factory.mktemp("debs")
    os.chmod(directory, 0o755)  # apt's sandbox user writes the download
    result = subprocess.run(
        ["apt-get", "download", "jq", "libjq1", "libonig5"], cwd=directory, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"apt-get download jq failed: {result.stderr.strip()}")
    return sorted(directory.glob("*.deb"))


def put(vm: IaasHost, path: str, data: bytes, mode: str = "0644") -> None:
    encoded = base64.b64encode(data).decode()
    vm.sh(f"install -d $(dirname {path})\nprintf %s {encoded} | base64 -d > {path}\nchmod {mode} {path}\n")


def run_like_cloud_init(vm: IaasHost, document: str, debs: list[Path], stood_in: tuple[str, ...] = ()) -> str:
    """cloud-init's order: packages (those missing, from .debs; `stood_in` ones are the test's stand-ins),
    write_files, runcmd; returns runcmd's output."""
    assert document.startswith("#cloud-config\n")
    config: dict[str, Any] = yaml.safe_load(document)
    assert set(stood_in) <= set(config["packages"])
    wanted_packages = [p for p in config["packages"] if p not in stood_in]
    missing = vm.sh(f"for p in {' '.join(wanted_packages)}; do dpkg -s $p >/dev/null 2>&1 || echo $p; done")
    for package in missing.split():
        wanted = [d for d in debs if d.name.split("_")[0] in (package, "libjq1", "libonig5")]
        assert wanted, f"the image lacks {package} and the test has no .deb for it"
        for deb in wanted:
            put(vm, f"/tmp/debs/{deb.name}", deb.read_bytes())
        vm.sh("dpkg -i /tmp/debs/*.deb >/dev/null")
    for entry in config["write_files"]:
        put(vm, entry["path"], entry["content"].encode(), entry["permissions"])
        vm.sh(f"chown {entry['owner']} {entry['path']}")
    return "\n".join(vm.sh(" ".join(command)) for command in config["runcmd"])


def https_get(vm: IaasHost, port: int, path: str, tls: Tls) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(tls.certificate))
    with (
        socket.create_connection((vm.address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as conn,
    ):
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {DOMAIN}\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def secrets_in_ram(vm: IaasHost, files: dict[str, bytes]) -> None:
    vm.sh("install -d -m 700 /run/instance-secrets")
    for name, data in files.items():
        put(vm, f"/run/instance-secrets/{name}", data, "0600")


def test_aws_user_data_brings_the_api_up_on_the_target_group_port(
    net: IaasNetwork, environment: Environment, tls: Tls, store: str, debs: list[Path]
) -> None:
    vm = net.vms[0]
    render = functools.partial(cloud_init, environment)
    # What AwsAppTier puts in the api launch template, with this stack's ARNs and artifact location.
    release = environment.app.release
    assert release is not None
    key = f"releases/{release.api.artifact.rsplit('/', 1)[1]}"
    document = aws_release.cloud_config(render, "api", REGION, ARNS, "prozorro-documents", key, 8080)
    assert DB_PASSWORD not in document and tls.key.read_text() not in document
    fake = FAKE_AWS.replace("@REGION@", REGION).replace("@BUCKET@", "prozorro-documents").replace("@STORE@", store)
    put(vm, "/usr/local/bin/aws", fake.encode(), "0755")
    values = {
        "TLS_CERT": tls.certificate.read_bytes(),
        "TLS_KEY": tls.key.read_bytes(),
        "SECRET_DB_PASSWORD": DB_PASSWORD.encode(),
    }
    secrets_in_ram(vm, {_arn_file(ARNS[v]): data for v, data in values.items()})

    output = run_like_cloud_init(vm, document, debs, stood_in=("awscli",))
    assert output.strip().endswith("@@opcloud changed"), output
    assert https_get(vm, 8080, "/health", tls) == (200, "ok 1.0.0")
    info = json.loads(https_get(vm, 8080, "/info", tls)[1])
    assert info["db_password_sha256"] == _sha(DB_PASSWORD) and info["uid"] != 0
    # The next boot runs the same user data: nothing to change.
    assert vm.sh("/usr/local/sbin/opcloud-release-api").strip().endswith("@@opcloud ok")


def _arn_file(arn: str) -> str:
    return hashlib.sha256(arn.encode()).hexdigest()[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(autouse=True)
def _db_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, DB_PASSWORD)
