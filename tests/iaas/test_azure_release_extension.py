"""Azure's release extension, run inside a disposable Debian VM as CustomScript 2.1 runs it on a scale set
instance: version 1 comes up on its health path over TLS, version 2 rolls, a broken version 3 fails its health
gate, exits non-zero (so the extension fails and Azure's rolling upgrade stops) and leaves version 2 serving.

Each script is the one synthesized into the prokuria-eu-prod scale set's protected settings (Pulumi's mocks),
with the release pointing at the test's artifacts. CustomScript decodes the protected `script` (base64), writes
it to `<download dir>/<sequence>/script.sh` (mode 0500) and runs `/bin/sh -c <that path>` there, stdout and
stderr to files; so does `run_extension`. The cloud is stood in for inside the VM, nothing else: a `curl` in
front of the real one plays the instance metadata service, Key Vault and the blob endpoint (insisting on the
tokens the script must send, serving the blob from the local HTTP store). The image's packages: jq is put in
from Debian's .debs first, as an Ubuntu image has it (the script's apt-get fallback is not exercised here).

What only Azure can show: that it runs the extension again on each instance batch by batch when the model
changes, waits for the health extension, and stops and rolls back on a failed instance.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.iaas.release_fixtures import DOMAIN, Artifact, Tls, build_artifact
from tests.iaas.test_cloud_init_clouds import DB_PASSWORD, https_get, put, secrets_in_ram
from tests.servers.iaas_host import IaasHost, IaasNetwork
from tests.stacks.test_release_delivery import _synth

STACK = "prokuria-eu-prod"
ACCOUNT = "https://prokuriaeuproddocs.blob.core.windows.net"
VAULT = "https://prokuria-eu-prod-kv.vault.azure.net"
CLIENT_ID = f"{STACK}-app-api-identity-client"  # what the mocks give the api role's user-assigned identity
DOWNLOAD = "/var/lib/waagent/custom-script/download"
HEALTH_TIMEOUT = 20

FAKE_CURL = r"""#!/bin/bash
# Stand-in for the instance metadata service, Key Vault and the documents account (test only); everything else
# goes to the real curl.
headers=$(printf '%s\n' "$@")
args=("$@")
for i in "${!args[@]}"; do
  arg=${args[$i]}
  case "$arg" in
    http://169.254.169.254/metadata/identity/oauth2/token*)
      printf '%s\n' "$headers" | grep -qx 'Metadata:true' || exit 22
      case "$arg" in *"&client_id=@CLIENT_ID@&"*) ;; *) echo "a token for another identity: $arg" >&2; exit 22;; esac
      printf '{"access_token":"token-for-%s"}\n' "${arg##*resource=}"; exit 0;;
    @VAULT@/secrets/*)
      printf '%s\n' "$headers" | grep -qx 'Authorization: Bearer token-for-https%3A%2F%2Fvault.azure.net' || exit 22
      name=${arg#*/secrets/}; name=${name%%\?*}
      [ -f "/run/instance-secrets/$name" ] || exit 22
      jq -n --rawfile v "/run/instance-secrets/$name" '{value: $v}'; exit 0;;
    @ACCOUNT@/releases/*)
      storage_token='Authorization: Bearer token-for-https%3A%2F%2Fstorage.azure.com%2F'
      printf '%s\n' "$headers" | grep -qxF "$storage_token" || exit 22
      printf '%s\n' "$headers" | grep -q '^x-ms-version: ' || exit 22
      args[$i]="@STORE@/${arg##*/}";;
  esac
done
exec /usr/bin/curl "${args[@]}"
"""


# How many disposable VMs this module's network boots (the `net` fixture, tests/iaas/conftest.py).
VMS = 1


@pytest.fixture(scope="module")
def vm(net: IaasNetwork, tls: Tls, store: str, tmp_path_factory: pytest.TempPathFactory) -> IaasHost:
    """The instance: jq as the image has it, the cloud's stand-ins, the vault's secrets."""
    host = net.vms[0]
    directory = tmp_path_factory.mktemp("debs")
    os.chmod(directory, 0o755)  # apt's sandbox user writes the download
    result = subprocess.run(
        ["apt-get", "download", "jq", "libjq1", "libonig5"], cwd=directory, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"apt-get download jq failed: {result.stderr.strip()}")
    for deb in directory.glob("*.deb"):
        put(host, f"/tmp/debs/{deb.name}", deb.read_bytes())
    host.sh("dpkg -i /tmp/debs/*.deb >/dev/null")
    fake = FAKE_CURL.replace("@CLIENT_ID@", CLIENT_ID).replace("@VAULT@", VAULT)
    put(host, "/usr/local/bin/curl", fake.replace("@ACCOUNT@", ACCOUNT).replace("@STORE@", store).encode(), "0755")
    secrets_in_ram(
        host,
        {
            "release-tls-cert": tls.certificate.read_bytes(),
            "release-tls-key": tls.key.read_bytes(),
            "release-api-db-password": DB_PASSWORD.encode(),
        },
    )
    return host


def synthesized_extension(artifact: Artifact) -> dict[str, Any]:
    """The api scale set's release extension as the stack synthesizes it with `artifact` as the api release."""

    def release(config: dict[str, Any]) -> None:
        app = config["opcloud:app"]
        app["domain"] = DOMAIN
        app["release"]["healthTimeoutSeconds"] = HEALTH_TIMEOUT
        app["release"]["api"].update(
            artifact=f"{ACCOUNT}/releases/{artifact.name}", sha256=artifact.sha256, version=artifact.version
        )

    manifest, _ = _synth(STACK, release)
    extensions = manifest.named(f"{STACK}-app-api").inputs["virtualMachineProfile"]["extensionProfile"]["extensions"]
    return next(e for e in extensions if e["name"] == "release")


def run_extension(vm: IaasHost, extension: dict[str, Any], sequence: int) -> tuple[int, str, str]:
    """What CustomScript does with the protected `script`: decode, write script.sh 0500 into the sequence's
    download directory, run `/bin/sh -c` on it there (stdin empty); returns exit code, stdout, stderr."""
    script = base64.b64decode(extension["protectedSettings"]["script"], validate=True)
    directory = f"{DOWNLOAD}/{sequence}"
    vm.sh(f"install -d -m 700 {directory}")
    put(vm, f"{directory}/script.sh", script, "0500")
    code = vm.sh(
        f"cd {directory} && /bin/sh -c {directory}/script.sh </dev/null >stdout 2>stderr; echo $?"
    ).strip().splitlines()[-1]
    return int(code), vm.sh(f"cat {directory}/stdout"), vm.sh(f"cat {directory}/stderr")


def current(vm: IaasHost) -> str:
    return vm.sh("readlink /opt/prokuria-eu/api/current || echo nothing").strip()


def test_the_release_extension_rolls_version_2_and_refuses_a_broken_version_3(
    vm: IaasHost, files: Path, tls: Tls
) -> None:
    v1, v2 = build_artifact(files, "1.0.0"), build_artifact(files, "2.0.0")
    v3 = build_artifact(files, "3.0.0", healthy=False)

    first = synthesized_extension(v1)
    assert first["forceUpdateTag"] == f"api 1.0.0 sha256:{v1.sha256}"
    code, out, err = run_extension(vm, first, 0)
    assert code == 0 and out.strip().endswith("@@opcloud changed"), (out, err)
    assert https_get(vm, 443, "/health", tls) == (200, "ok 1.0.0")
    info = json.loads(https_get(vm, 443, "/info", tls)[1])
    assert info["uid"] != 0 and not info["secret_in_environment"]

    second = synthesized_extension(v2)
    assert second["forceUpdateTag"] != first["forceUpdateTag"]  # a new model: Azure runs the extension again
    code, out, err = run_extension(vm, second, 1)
    assert code == 0 and out.strip().endswith("@@opcloud changed"), (out, err)
    assert https_get(vm, 443, "/health", tls) == (200, "ok 2.0.0")
    assert current(vm) == f"releases/2.0.0-{v2.sha256[:12]}"
    # Run again (a reimaged host's extension, or a retried upgrade): nothing to change.
    code, out, err = run_extension(vm, second, 2)
    assert code == 0 and out.strip().endswith("@@opcloud ok"), (out, err)

    third = synthesized_extension(v3)
    code, out, err = run_extension(vm, third, 3)
    assert code != 0, (out, err)  # the extension fails: the host's upgrade fails and the roll stops
    assert out.strip().endswith("@@opcloud failed apply exited 1"), out
    assert (
        f"3.0.0 did not answer https://{DOMAIN}:443/health within {HEALTH_TIMEOUT}s: "
        f"switched back to 2.0.0-{v2.sha256[:12]}, which answers"
    ) in err
    assert https_get(vm, 443, "/health", tls) == (200, "ok 2.0.0")
    assert current(vm) == f"releases/2.0.0-{v2.sha256[:12]}"


def test_the_release_extension_changes_nothing_when_a_secret_cannot_be_read(
    vm: IaasHost, files: Path, tls: Tls
) -> None:
    v4 = build_artifact(files, "4.0.0")
    extension = synthesized_extension(v4)
    state = "stat -c %Y /etc/systemd/system/prokuria-eu-api.service 2>&1; readlink /opt/prokuria-eu/api/current; true"
    before = vm.sh(state)
    vm.sh("mv /run/instance-secrets/release-api-db-password /run/instance-secrets/.away")
    try:
        code, out, err = run_extension(vm, extension, 4)
    finally:
        vm.sh("mv /run/instance-secrets/.away /run/instance-secrets/release-api-db-password")
    assert code != 0 and "@@opcloud" not in out, (out, err)  # stopped in the launcher, before the step
    assert vm.sh(state) == before
    assert vm.sh("ls /opt/prokuria-eu/api/releases/ 2>/dev/null; true").count("4.0.0") == 0
