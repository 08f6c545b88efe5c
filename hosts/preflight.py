"""Preflight from the operator's machine: every host answers on SSH (host key verified), every iSCSI portal
lists the expected target and LUN (libiscsi's `iscsi-ls`, CHAP through its environment variables, never
argv), every NFS export is served (libnfs's `nfs-ls`, NFSv4). Nothing is changed anywhere."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from opcloud.hosts.runner import RunOptions, executor_for, in_parallel, require_keys, selected
from opcloud.hosts.secrets import resolve

from opcloud.config.environment import Environment, IscsiVolume, NfsShare, SshHost
from opcloud.errors import OpcloudError, ToolMissingError


@dataclass(frozen=True)
class Probe:
    kind: str  # ssh | iscsi | nfs
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} not found: install {package}")
    return path


def parse_iscsi_ls(output: str) -> dict[str, set[int]]:
    """`iscsi-ls -s` output -> {target IQN: LUNs}."""
    targets: dict[str, set[int]] = {}
    current: str | None = None
    for line in output.splitlines():
        target = re.match(r"^Target:(\S+)", line.strip())
        if target:
            current = target.group(1)
            targets.setdefault(current, set())
            continue
        lun = re.match(r"^Lun:(\d+)", line.strip())
        if lun and current is not None:
            targets[current].add(int(lun.group(1)))
    return targets


def probe_iscsi(volume: IscsiVolume, options: RunOptions) -> Probe:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBISCSI_CHAP_")}
    if volume.chap is not None:
        env["LIBISCSI_CHAP_USERNAME"] = volume.chap.username
        env["LIBISCSI_CHAP_PASSWORD"] = resolve(volume.chap.password, options.config)
    argv = [_tool("iscsi-ls", "libiscsi-bin"), "-s", f"iscsi://{volume.portal}"]
    name = f"{volume.name} ({volume.portal} {volume.target} lun {volume.lun})"
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=options.connect_timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Probe("iscsi", name, False, f"no answer from {volume.portal} within {options.connect_timeout:g}s")
    targets = parse_iscsi_ls(result.stdout)
    if result.returncode != 0 and not targets:
        why = (result.stderr or result.stdout).strip().splitlines()
        return Probe("iscsi", name, False, f"iscsi-ls failed: {why[-1] if why else result.returncode}")
    if volume.target not in targets:
        return Probe("iscsi", name, False, f"target not offered (portal lists {', '.join(sorted(targets)) or 'none'})")
    if volume.lun not in targets[volume.target]:
        luns = ", ".join(map(str, sorted(targets[volume.target]))) or "none"
        return Probe("iscsi", name, False, f"LUN {volume.lun} missing (target has {luns})")
    if volume.chap is not None and volume.chap.target_username and volume.chap.target_password:
        return _probe_mutual_chap(volume, env, name, options)
    return Probe("iscsi", name, True, "target and LUN present")


def _probe_mutual_chap(volume: IscsiVolume, env: dict[str, str], name: str, options: RunOptions) -> Probe:
    """Log in to the target itself challenging it (libiscsi refuses a wrong CHAP_R). Discovery above stays
    one-way: a target's outgoing account answers on its own sessions, not on the discovery session (tgt)."""
    assert volume.chap is not None and volume.chap.target_username and volume.chap.target_password
    env = {
        **env,
        "LIBISCSI_CHAP_TARGET_USERNAME": volume.chap.target_username,
        "LIBISCSI_CHAP_TARGET_PASSWORD": resolve(volume.chap.target_password, options.config),
    }
    url = f"iscsi://{volume.portal}/{volume.target}/{volume.lun}"
    try:
        result = subprocess.run(
            [_tool("iscsi-inq", "libiscsi-bin"), url],
            capture_output=True, text=True, env=env, timeout=options.connect_timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Probe("iscsi", name, False, f"no login answer from {volume.portal} within {options.connect_timeout:g}s")
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()
        return Probe("iscsi", name, False, f"mutual CHAP: {why[-1] if why else result.returncode}")
    return Probe(
        "iscsi", name, True, f"target and LUN present; the target proved itself as {volume.chap.target_username}"
    )


def probe_nfs(share: NfsShare, options: RunOptions) -> Probe:
    url = f"nfs://{share.server}{share.export}?version=4&nfsport={share.port}"
    argv = [_tool("nfs-ls", "libnfs-utils"), url]
    name = f"{share.name} ({share.server}:{share.export})"
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=options.connect_timeout, check=False)
    except subprocess.TimeoutExpired:
        return Probe("nfs", name, False, f"no answer within {options.connect_timeout:g}s")
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()
        return Probe("nfs", name, False, f"export not served: {why[-1] if why else result.returncode}")
    return Probe("nfs", name, True, "export served (NFSv4)")


def _probe_ssh(environment: Environment, host: SshHost, options: RunOptions) -> Probe:
    try:
        with executor_for(environment, host, options) as executor:
            result = executor.run("true", timeout=options.connect_timeout)
    except OpcloudError as error:
        return Probe("ssh", host.name, False, str(error))
    ok = result.exit_code == 0
    return Probe("ssh", host.name, ok, "answers, host key verified" if ok else f"exit {result.exit_code}")


def _probe_volume(volume: IscsiVolume, options: RunOptions) -> Probe:
    try:
        return probe_iscsi(volume, options)
    except ToolMissingError:
        raise
    except OpcloudError as error:
        return Probe("iscsi", volume.name, False, str(error))


def preflight(environment: Environment, options: RunOptions) -> Iterator[Probe]:
    """Every probe of the selected hosts at once (SSH, and the iSCSI volumes and NFS shares they use), yielded
    as each answers. Missing keys and passwords are one input error before anything is probed."""
    inventory = environment.inventory
    assert inventory is not None
    hosts = [plan.host for plan in selected(environment, options)]
    names = {host.name for host in hosts}
    volumes = [volume for volume in inventory.iscsi if volume.host in names]
    shares = [share for share in inventory.nfs if names & set(share.hosts)]
    require_keys(environment, hosts, options)
    for volume in volumes:
        if volume.chap is not None:
            resolve(volume.chap.password, options.config)
            if volume.chap.target_password is not None:
                resolve(volume.chap.target_password, options.config)
    if volumes:
        _tool("iscsi-ls", "libiscsi-bin")
    if shares:
        _tool("nfs-ls", "libnfs-utils")
    probes: list[Callable[[], Probe]] = [
        *(functools.partial(_probe_ssh, environment, host, options) for host in hosts),
        *(functools.partial(_probe_volume, volume, options) for volume in volumes),
        *(functools.partial(probe_nfs, share, options) for share in shares),
    ]
    yield from in_parallel(probes, lambda probe: [probe()])
