"""The release of a service on a host, rendered once for every cloud.

`release_step` turns an environment's `app.release` into one idempotent host step (fetch the artifact, verify
its SHA-256, unpack it into a versioned directory, switch the `current` symlink atomically, start it under the
hardened systemd unit, wait for its health path over TLS, switch back when it does not answer). The IaaS runner
sends that step over SSH; `boot_files` wraps the very same rendered script with a launcher, which `cloud_init`
puts in an AWS launch template's user data and `release_script` in an Azure scale set's release extension.
One script body, so the three clouds cannot drift apart.

Secrets (the TLS certificate and key, the service's own secrets) are never part of the script: over SSH they
arrive on stdin ahead of it; on AWS and Azure the launcher reads each with a command the cloud provides
(instance role, managed identity). On the host they live in /run/opcloud/<service> (RAM, readable by root and
the service's group only) and never touch a disk; the service finds them in $SECRETS_DIRECTORY.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml
from opcloud.hosts.script import ManagedFile, Step, q, render

from opcloud.config.environment import Environment, Release, RoleRelease, SecretRef

APP_USER = "opcloud-app"
ROLE_PORTS = {"api": 443, "docs": 443}
RELEASE_PACKAGES = ("curl", "ca-certificates")
EXEC_LINK = ".opcloud-exec"  # inside each versioned directory: the unit starts current/.opcloud-exec
SHA_MARKER = ".opcloud-sha256"  # written last: a directory without it is not a release
UNIT_HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
)


@dataclass(frozen=True)
class ServiceRelease:
    """One role's release on one host, with everything the script needs."""

    platform: str
    role: str
    domain: str
    port: int
    release: RoleRelease
    health_timeout_seconds: int
    writable_paths: tuple[str, ...] = ()  # the documents share on docs (and api) hosts

    @property
    def service(self) -> str:
        return f"{self.platform}-{self.role}"

    @property
    def base(self) -> str:
        return f"/opt/{self.platform}/{self.role}"

    @property
    def directory(self) -> str:
        """Versioned by name and content: a rebuilt artifact under the same version gets its own directory."""
        return f"releases/{self.release.version}-{self.release.sha256[:12]}"

    @property
    def secrets_dir(self) -> str:
        return f"/run/opcloud/{self.service}"

    @property
    def unit_path(self) -> str:
        return f"/etc/systemd/system/{self.service}.service"

    @property
    def settings_path(self) -> str:
        return f"/etc/opcloud/{self.service}.env"

    def secret_files(self) -> dict[str, str]:
        """Credential file name -> the shell variable carrying its value."""
        return {"tls.crt": "TLS_CERT", "tls.key": "TLS_KEY", **{n: f"SECRET_{n}" for n in self.release.secrets}}

    def unit(self) -> ManagedFile:
        text = "\n".join(
            [
                "[Unit]",
                f"Description={self.platform} {self.role} service {self.release.version} (opcloud)",
                "Wants=network-online.target",
                "After=network-online.target remote-fs.target",
                *(f"RequiresMountsFor={m}" for m in self.writable_paths),
                "[Service]",
                f"User={APP_USER}",
                f"ExecStart={self.base}/current/{EXEC_LINK} --listen 0.0.0.0:{self.port} --domain {self.domain} "
                f"--tls-cert {self.secrets_dir}/tls.crt --tls-key {self.secrets_dir}/tls.key",
                f"EnvironmentFile={self.settings_path}",
                f"Environment=SECRETS_DIRECTORY={self.secrets_dir}",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                *UNIT_HARDENING,
                *(f"ReadWritePaths={m}" for m in self.writable_paths),
                "Restart=on-failure",
                "RestartSec=2",
                "[Install]",
                "WantedBy=multi-user.target",
                "",
            ]
        )
        return ManagedFile(self.unit_path, text)

    def settings(self) -> ManagedFile:
        lines = ["# managed by opcloud: the service's settings (secrets are credentials, never here)"]
        lines += [f"{name}={value}" for name, value in sorted(self.release.settings.items())]
        return ManagedFile(self.settings_path, "\n".join(lines) + "\n", "640")


# --------------------------------------------------------------------------------------------- the script

_HELPERS = r"""
svc_healthy() {
  curl -fsS -o /dev/null --max-time 5 --cacert "$SECRETS/tls.crt" --resolve "$DOMAIN:$PORT:127.0.0.1" \
    "https://$DOMAIN:$PORT$HEALTH_PATH" 2>/dev/null
}
svc_wait_healthy() {
  local end=$((SECONDS + HEALTH_TIMEOUT))
  until svc_healthy; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 1
  done
}
svc_switch() {  # atomically point BASE/current at $1 (rename over the old link: never a moment without one)
  ln -sfn "$1" "$BASE/current.opcloud-new"
  mv -Tf "$BASE/current.opcloud-new" "$BASE/current"
}
"""


def _variables(spec: ServiceRelease) -> str:
    values = {
        "BASE": spec.base,
        "WANT": spec.directory,
        "SHA256": spec.release.sha256,
        "VERSION": spec.release.version,
        "ARTIFACT": spec.release.artifact,
        "COMMAND": spec.release.command,
        "SERVICE": f"{spec.service}.service",
        "SECRETS": spec.secrets_dir,
        "DOMAIN": spec.domain,
        "PORT": str(spec.port),
        "HEALTH_PATH": spec.release.health_path,
        "HEALTH_TIMEOUT": str(spec.health_timeout_seconds),
    }
    return "\n".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def _fetch(artifact: str, command: str | None = None) -> str:
    """Bring the artifact to "$tmp/artifact": with the cloud's own `command` (instance role, managed identity),
    from a path on the host (the NFS store) or over HTTP(S)."""
    if command is not None:
        return command
    if artifact.startswith("file://"):
        return f'cp -- {q(artifact.removeprefix("file://"))} "$tmp/artifact"'
    return 'curl -fsSL --proto =https,http --retry 3 --max-time 900 -o "$tmp/artifact" -- "$ARTIFACT"'


def _check(spec: ServiceRelease) -> str:
    secret_checks = [
        f'[ -s "$SECRETS/{name}" ] || drift "{name} is not in $SECRETS (a reboot clears it: apply again)"'
        for name in spec.secret_files()
    ]
    return "\n".join(
        [
            _variables(spec),
            _HELPERS.strip(),
            f'id -u {APP_USER} >/dev/null 2>&1 || drift "user {APP_USER} missing"',
            f'[ "$(cat "$BASE/$WANT/{SHA_MARKER}" 2>/dev/null)" = "$SHA256" ] '
            '|| drift "release $VERSION is not unpacked"',
            '[ "$(readlink "$BASE/current")" = "$WANT" ] || '
            'drift "current is $(readlink "$BASE/current" || echo nothing), wanted $WANT"',
            spec.unit().check(),
            spec.settings().check(),
            *secret_checks,
            'unit_enabled "$SERVICE" || drift "$SERVICE is not enabled"',
            "if systemd_up; then",
            '  systemctl is-active --quiet "$SERVICE" || drift "$SERVICE is not running"',
            '  svc_healthy || drift "$SERVICE does not answer https://$DOMAIN:$PORT$HEALTH_PATH"',
            "fi",
        ]
    )


def _apply(spec: ServiceRelease, fetch_command: str | None = None) -> str:
    put_secrets = [
        f'[ -n "${{{var}:-}}" ] || {{ echo "no value was passed for {name}" >&2; exit 1; }}\n'
        f'if [ "$(sha_of "$SECRETS/{name}")" != "$(printf "%s" "${var}" | sha256sum | cut -d" " -f1)" ]; then\n'
        f'  tmp_secret=$(mktemp "$SECRETS/.{name}.XXXXXX"); printf "%s" "${var}" > "$tmp_secret"\n'
        f'  chgrp {APP_USER} "$tmp_secret"; chmod 640 "$tmp_secret"; mv -f "$tmp_secret" "$SECRETS/{name}"; changed=1\n'
        "fi"
        for name, var in spec.secret_files().items()
    ]
    return "\n".join(
        [
            _variables(spec),
            _HELPERS.strip(),
            f"id -u {APP_USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "
            f"{APP_USER}",
            "changed=0",
            # Secrets: in RAM, readable by root and the service's group only.
            f'install -d -m 750 -o root -g {APP_USER} "$SECRETS"',
            "umask 027",
            *put_secrets,
            "umask 022",
            # Fetch, verify, unpack: a directory becomes a release only once complete (marker written last).
            'if [ "$(cat "$BASE/$WANT/' + SHA_MARKER + '" 2>/dev/null)" != "$SHA256" ]; then',
            '  install -d -m 755 "$BASE/releases"',
            '  tmp=$(mktemp -d "$BASE/releases/.incoming.XXXXXX")',
            "  trap 'rm -rf \"$tmp\"' EXIT",
            "  " + _fetch(spec.release.artifact, fetch_command),
            '  got=$(sha_of "$tmp/artifact")',
            '  if [ "$got" != "$SHA256" ]; then',
            '    echo "artifact $ARTIFACT has SHA-256 $got, not $SHA256: refused" >&2; exit 1',
            "  fi",
            '  mkdir "$tmp/tree"',
            '  tar -xzf "$tmp/artifact" -C "$tmp/tree" --no-same-owner',
            '  [ -x "$tmp/tree/$COMMAND" ] || { echo "artifact $VERSION has no executable $COMMAND" >&2; exit 1; }',
            '  chmod -R go-w "$tmp/tree"',
            f'  ln -sfn "$COMMAND" "$tmp/tree/{EXEC_LINK}"',
            f'  printf "%s\\n" "$SHA256" > "$tmp/tree/{SHA_MARKER}"',
            '  rm -rf "${BASE:?}/$WANT"',
            '  mv -T "$tmp/tree" "$BASE/$WANT"',
            "fi",
            spec.unit().put_if_changed("changed=1"),
            spec.settings().put_if_changed("changed=1"),
            'previous=$(readlink "$BASE/current" || true)',
            'if [ "$previous" != "$WANT" ]; then svc_switch "$WANT"; changed=1; fi',
            'unit_enable "$SERVICE"',
            "systemd_up || exit 0  # an offline root: started at boot, checked by the next apply",
            'if [ "$changed" = 1 ] || ! systemctl is-active --quiet "$SERVICE"; then',
            '  systemctl daemon-reload; systemctl restart "$SERVICE"',
            "fi",
            # The health gate: a version that does not answer is switched back, and the step fails (the roll stops).
            "if ! svc_wait_healthy; then",
            '  if [ -n "$previous" ] && [ "$previous" != "$WANT" ] && [ -d "$BASE/$previous" ]; then',
            '    svc_switch "$previous"; systemctl restart "$SERVICE"',
            '    if svc_wait_healthy; then back="switched back to ${previous#releases/}, which answers"; '
            'else back="switched back to ${previous#releases/}, which does not answer either"; fi',
            "  else",
            '    back="no previous version to switch back to"',
            "  fi",
            '  echo "$VERSION did not answer https://$DOMAIN:$PORT$HEALTH_PATH within ${HEALTH_TIMEOUT}s: $back" >&2',
            "  exit 1",
            "fi",
        ]
    )


def service_release(
    environment: Environment, role: str, writable_paths: Sequence[str] = (), port: int | None = None
) -> tuple[ServiceRelease, Release]:
    release = environment.app.release
    if release is None:
        raise ValueError("the environment names no app.release")
    spec = ServiceRelease(
        platform=environment.platform,
        role=role,
        domain=environment.app.domain,
        port=ROLE_PORTS[role] if port is None else port,
        release=release.role(role),
        health_timeout_seconds=release.health_timeout_seconds,
        writable_paths=tuple(writable_paths),
    )
    return spec, release


def release_step(
    environment: Environment,
    host: str,
    role: str,
    writable_paths: Sequence[str] = (),
    *,
    port: int | None = None,
    fetch_command: str | None = None,
) -> Step:
    """The host step delivering `role`'s release (IaaS: sent over SSH by `opcloud hosts` and `pulumi up`).

    `port` is where the service serves TLS (the balancer's backend port; 443 on IaaS); `fetch_command` replaces
    the plain download by the cloud's authenticated one (it writes "$tmp/artifact", see `_fetch`)."""
    spec, release = service_release(environment, role, writable_paths, port)
    secrets: dict[str, SecretRef] = {"TLS_CERT": release.tls.certificate, "TLS_KEY": release.tls.key}
    secrets.update({f"SECRET_{name}": ref for name, ref in spec.release.secrets.items()})
    inputs = {
        "role": role,
        "version": spec.release.version,
        "artifact": spec.release.artifact,
        "sha256": spec.release.sha256,
        "command": spec.release.command,
        "healthPath": spec.release.health_path,
        "healthTimeoutSeconds": spec.health_timeout_seconds,
        "port": spec.port,
        "settings": dict(spec.release.settings),
        "secrets": {name: ref.describe() for name, ref in secrets.items()},
        "files": {spec.unit_path: spec.unit().content, spec.settings_path: spec.settings().content},
    }
    return Step(
        host=host,
        name=f"release-{role}",
        kind="release",
        row="app",
        check=_check(spec),
        apply=_apply(spec, fetch_command),
        inputs=inputs,
        secrets=secrets,
    )


@dataclass(frozen=True)
class BootFiles:
    """What a new host needs to run `role`'s release step: packages, the files (step script and launcher) and
    the launcher to run. cloud-init (AWS) and the scale set's release extension (Azure) both deliver exactly
    these, so the two cannot drift."""

    packages: tuple[str, ...]
    files: tuple[dict[str, str], ...]  # path, permissions, owner, content
    command: str


def boot_files(
    environment: Environment,
    role: str,
    secret_commands: Mapping[str, str],
    *,
    port: int | None = None,
    fetch_command: str | None = None,
    helpers: str = "",
    packages: Sequence[str] = (),
) -> BootFiles:
    """`role`'s release step plus a launcher that reads each secret with its command, then runs the step.

    `secret_commands` maps each secret variable of the step (TLS_CERT, TLS_KEY, SECRET_<NAME>) to a shell
    command printing it on the instance (e.g. the cloud's CLI with the instance role or managed identity): the
    files name where secrets come from, never their values. A secret without a command is refused by name.
    `helpers` are shell functions those commands (and `fetch_command`) call; `packages` what they need.
    """
    step = release_step(environment, "cloud-init", role, port=port, fetch_command=fetch_command)
    missing = sorted(set(step.secrets) - set(secret_commands))
    if missing:
        ref = step.secrets[missing[0]].describe()
        raise ValueError(f"cloud-init for {role}: no command reads the secret {missing[0]} ({ref})")
    unknown = sorted(set(secret_commands) - set(step.secrets))
    if unknown:
        raise ValueError(f"cloud-init for {role}: {unknown[0]} is not a secret of this release")
    script_path = f"/usr/local/lib/opcloud/release-{role}.sh"
    launcher_path = f"/usr/local/sbin/opcloud-release-{role}"
    # Read each secret into a shell variable (not exported), then run the step script in the same shell.
    reads = "\n".join(f"{name}=$({command})" for name, command in sorted(secret_commands.items()))
    # pipefail: a secret read that fails anywhere in its pipe stops the boot here, before anything is changed.
    launcher = f"#!/bin/bash\nset -euo pipefail\n{helpers.strip()}\n{reads}\nset +euo pipefail\n. {script_path}\n"
    return BootFiles(
        packages=tuple(dict.fromkeys([*RELEASE_PACKAGES, *packages])),
        files=(
            {"path": script_path, "permissions": "0700", "owner": "root:root", "content": render(step, "apply")},
            {"path": launcher_path, "permissions": "0700", "owner": "root:root", "content": launcher},
        ),
        command=launcher_path,
    )


def cloud_init(
    environment: Environment,
    role: str,
    secret_commands: Mapping[str, str],
    *,
    port: int | None = None,
    fetch_command: str | None = None,
    helpers: str = "",
    packages: Sequence[str] = (),
) -> str:
    """The `#cloud-config` user data of an AWS launch template for `role` (see `boot_files`)."""
    boot = boot_files(
        environment, role, secret_commands, port=port, fetch_command=fetch_command, helpers=helpers,
        packages=packages,
    )  # fmt: skip
    document = {
        "package_update": True,
        "packages": list(boot.packages),
        "write_files": [dict(entry) for entry in boot.files],
        "runcmd": [[boot.command]],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=10_000)


# Installs what cloud-init's `packages:` would (only the missing ones; apt waits for a boot-time apt run).
_INSTALL_PACKAGES = r"""
missing=()
for package in @PACKAGES@; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get -q -o DPkg::Lock::Timeout=600 update
  DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends \
    "${missing[@]}"
fi
put_file() {  # PATH MODE OWNER: base64 content on stdin, replaced atomically
  install -d -m 755 "$(dirname "$1")"
  local tmp; tmp=$(mktemp "$1.opcloud.XXXXXX")
  base64 -d > "$tmp"; chmod "$2" "$tmp"; chown "$3" "$tmp"; mv -f "$tmp" "$1"
}
"""


def release_script(
    environment: Environment,
    role: str,
    secret_commands: Mapping[str, str],
    *,
    port: int | None = None,
    fetch_command: str | None = None,
    helpers: str = "",
    packages: Sequence[str] = (),
) -> str:
    """The same `boot_files` as one bash script, for a VM extension that runs it on every new host and again on
    every host when the release changes (Azure CustomScript in the scale set model). It exits with the step's
    status: non-zero when the new version failed its health gate (and was switched back)."""
    boot = boot_files(
        environment, role, secret_commands, port=port, fetch_command=fetch_command, helpers=helpers,
        packages=packages,
    )  # fmt: skip
    puts = []
    for entry in boot.files:
        encoded = base64.encodebytes(entry["content"].encode()).decode()
        puts.append(f"put_file {q(entry['path'])} {entry['permissions']} {entry['owner']} <<'OPCLOUD_FILE'\n"
                    f"{encoded}OPCLOUD_FILE")  # fmt: skip
    release = environment.app.release
    assert release is not None  # boot_files refused an environment without one
    role_release = release.role(role)
    return "\n".join(
        [
            "#!/bin/bash",
            f"# opcloud release of {role}: {role_release.version} (sha256 {role_release.sha256})",
            "set -euo pipefail",
            "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            _INSTALL_PACKAGES.strip().replace("@PACKAGES@", " ".join(q(p) for p in boot.packages)),
            *puts,
            f"exec {q(boot.command)}",
            "",
        ]
    )
