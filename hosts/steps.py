"""Typed specs of the host steps and the check/apply scripts they generate.

Each spec is a frozen dataclass; `.step(host)` turns it into a `Step`. The scripts are plain bash for a
Debian 12 VM, idempotent (apply after a successful apply changes nothing) and free of secrets.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from opcloud.hosts.script import ManagedFile, Row, Step, files_check, q

from opcloud.config.environment import SecretRef

NFT_TABLE = "opcloud"
NFT_FILE = "/etc/nftables.d/opcloud.nft"
NFT_LIVE_HASH = "/var/lib/opcloud/nft-opcloud.sha256"


def _plain(value: object) -> object:
    """Spec values as synth shows them: a secret reference by its name, tuples as lists."""
    if isinstance(value, SecretRef):
        return value.describe()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _step(
    spec: object, host: str, name: str, kind: str, row: Row, check: str, apply: str, **secrets: SecretRef
) -> Step:
    inputs = {f.name: _plain(getattr(spec, f.name)) for f in fields(spec)}  # type: ignore[arg-type]
    return Step(host=host, name=name, kind=kind, row=row, check=check, apply=apply, inputs=inputs, secrets=secrets)


# ------------------------------------------------------------------------------------------------ packages


@dataclass(frozen=True)
class Packages:
    packages: tuple[str, ...]

    def step(self, host: str) -> Step:
        names = " ".join(q(p) for p in self.packages)
        check = f'for p in {names}; do pkg_installed "$p" || drift "package $p not installed"; done'
        apply = (
            # No default cluster at install: ours is created on the encrypted volume by the postgresql step.
            "mkdir -p /etc/postgresql-common\n"
            "grep -qx 'create_main_cluster = false' /etc/postgresql-common/createcluster.conf 2>/dev/null || "
            "echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf\n"
            "missing=()\n"
            f'for p in {names}; do pkg_installed "$p" || missing+=("$p"); done\n'
            "export DEBIAN_FRONTEND=noninteractive\n"
            "apt-get update -q >/dev/null\n"
            'apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null'
        )
        return _step(self, host, "packages", "packages", "hosts", check, apply)


# --------------------------------------------------------------------------------------------- iSCSI, LUKS


@dataclass(frozen=True)
class IscsiAttach:
    """Discover and log in to one target, with node.startup automatic so the session returns at boot."""

    volume: str
    portal: str  # ip:port
    target: str
    lun: int
    chap_username: str | None = None
    chap_password: SecretRef | None = field(default=None, compare=False)
    # Mutual CHAP: the target proves itself to the initiator too.
    chap_target_username: str | None = None
    chap_target_password: SecretRef | None = field(default=None, compare=False)

    @property
    def device(self) -> str:
        return f"/dev/disk/by-path/ip-{self.portal}-iscsi-{self.target}-lun-{self.lun}"

    def step(self, host: str) -> Step:
        ip, port = self.portal.rsplit(":", 1)
        node = f"/etc/iscsi/nodes/{self.target}/{ip},{port},*/default"
        t, p = q(self.target), q(self.portal)
        check = "\n".join(
            [
                f"rec=$(ls -1 {node} 2>/dev/null | head -n1)",
                f'[ -n "$rec" ] || drift "no node record for {self.target} at {self.portal}"',
                'grep -qx "node.startup = automatic" "$rec" || drift "node.startup is not automatic"',
                *(
                    [f'grep -qx "node.session.auth.username = {self.chap_username}" "$rec" || drift "CHAP not set"']
                    if self.chap_username
                    else []
                ),
                *(
                    [
                        f'grep -qx "node.session.auth.username_in = {self.chap_target_username}" "$rec" '
                        '|| drift "mutual CHAP not set"'
                    ]
                    if self.chap_target_username
                    else []
                ),
                f'[ -e {q(self.device)} ] || drift "not logged in: {self.device} missing"',
            ]
        )
        update = f"iscsiadm -m node -T {t} -p {p} -o update -n"
        chap = (
            [
                f"{update} node.session.auth.authmethod -v CHAP",
                f"{update} node.session.auth.username -v {q(self.chap_username)}",
                # iscsiadm takes the value as an argument: it is visible to root for the instant it runs.
                f'{update} node.session.auth.password -v "$CHAP_PASSWORD"',
            ]
            if self.chap_username
            else []
        )
        mutual = (
            [
                f"{update} node.session.auth.username_in -v {q(self.chap_target_username)}",
                f'{update} node.session.auth.password_in -v "$CHAP_TARGET_PASSWORD"',
            ]
            if self.chap_target_username
            else []
        )
        apply = "\n".join(
            [
                f"iscsiadm -m discovery -t sendtargets -p {p} >/dev/null",
                *chap,
                *mutual,
                f"{update} node.startup -v automatic",
                f"iscsiadm -m session 2>/dev/null | grep -F {q(' ' + self.portal + ',')} "
                f"| grep -qF {q(' ' + self.target)} || iscsiadm -m node -T {t} -p {p} --login",
                "udevadm settle || true",
            ]
        )
        secrets = {"CHAP_PASSWORD": self.chap_password} if self.chap_password else {}
        if self.chap_target_password:
            secrets["CHAP_TARGET_PASSWORD"] = self.chap_target_password
        return _step(self, host, f"iscsi-{self.volume}", "iscsi-attach", "keys", check, apply, **secrets)


@dataclass(frozen=True)
class Luks:
    """LUKS2 on a block device. The key stays off the VM: it arrives on the SSH channel's stdin and is piped
    to cryptsetup by a shell builtin; crypttab says `none` + `noauto`, so a rebooted VM waits, locked, until
    `opcloud hosts apply` (or `pulumi up`) unlocks it again."""

    volume: str
    device: str
    mapper: str
    key: SecretRef = field(compare=False)

    def step(self, host: str) -> Step:
        dev, name = q(self.device), q(self.mapper)
        crypttab = f"{self.mapper} UUID=$uuid none luks,noauto,_netdev"
        check = "\n".join(
            [
                f'[ -e {dev} ] || drift "{self.device} missing"',
                f'cryptsetup isLuks {dev} || drift "{self.device} is not a LUKS volume"',
                f"uuid=$(cryptsetup luksUUID {dev})",
                f'has_line /etc/crypttab "{crypttab}" || drift "crypttab entry for {self.mapper} missing"',
                f'[ -e /dev/mapper/{self.mapper} ] || drift "{self.mapper} is locked"',
            ]
        )
        apply = "\n".join(
            [
                f'[ -e {dev} ] || {{ echo "{self.device} missing: attach the volume first" >&2; exit 1; }}',
                f'[ -n "${{LUKS_KEY:-}}" ] || {{ echo "no LUKS key was passed for {self.volume}" >&2; exit 1; }}',
                f"if ! cryptsetup isLuks {dev}; then",
                # Never format over data: a device with any signature is refused, not wiped.
                f"  sig=$(blkid -p -o value -s TYPE {dev} 2>/dev/null || true)",
                f'  [ -z "$sig" ] || {{ echo "refusing to format {self.device}: it holds $sig" >&2; exit 1; }}',
                f'  printf "%s" "$LUKS_KEY" | cryptsetup luksFormat --type luks2 --batch-mode --key-file=- {dev}',
                "fi",
                f'[ -e /dev/mapper/{self.mapper} ] || printf "%s" "$LUKS_KEY" | '
                f"cryptsetup open --key-file=- {dev} {name}",
                f"uuid=$(cryptsetup luksUUID {dev})",
                f'set_line /etc/crypttab "^{self.mapper}[[:space:]]" "{crypttab}"',
            ]
        )
        return _step(self, host, f"luks-{self.volume}", "luks", "keys", check, apply, LUKS_KEY=self.key)


# --------------------------------------------------------------------------------------- filesystem, NFS


@dataclass(frozen=True)
class Filesystem:
    """A filesystem on the unlocked volume, mounted by UUID from fstab."""

    volume: str
    device: str
    fstype: str
    mount: str
    options: str = "noatime,nodev,nosuid,nofail,_netdev"
    row: Row = "database"

    def step(self, host: str) -> Step:
        dev, mnt = q(self.device), q(self.mount)
        line = f"UUID=$uuid {self.mount} {self.fstype} {self.options} 0 2"
        check = "\n".join(
            [
                f'[ -e {dev} ] || drift "{self.device} missing"',
                f'[ "$(blkid -o value -s TYPE {dev} 2>/dev/null)" = {self.fstype} ] || '
                f'drift "no {self.fstype} filesystem on {self.device}"',
                f"uuid=$(blkid -o value -s UUID {dev})",
                f'has_line /etc/fstab "{line}" || drift "fstab entry for {self.mount} missing or different"',
                f'mountpoint -q {mnt} || drift "{self.mount} is not mounted"',
            ]
        )
        apply = "\n".join(
            [
                f"fs=$(blkid -o value -s TYPE {dev} 2>/dev/null || true)",
                f'if [ -z "$fs" ]; then mkfs.{self.fstype} -q {dev}; '
                f'elif [ "$fs" != {self.fstype} ]; then '
                f'echo "{self.device} holds $fs, not {self.fstype}" >&2; exit 1; fi',
                f"uuid=$(blkid -o value -s UUID {dev})",
                f'set_line /etc/fstab "^[^#[:space:]]+[[:space:]]+{self.mount}[[:space:]]" "{line}"',
                f"mkdir -p {mnt}",
                f"mountpoint -q {mnt} || mount {mnt}",
            ]
        )
        return _step(self, host, f"fs-{self.volume}", "filesystem", self.row, check, apply)


@dataclass(frozen=True)
class NfsMount:
    share: str
    server: str
    port: int
    export: str
    mount: str
    sec: str
    row: Row = "documents"

    @property
    def options(self) -> str:
        # hard: never hand the app a short write; 4.2 only; Kerberos privacy over the inter-site link.
        return (
            f"nfsvers=4.2,proto=tcp,port={self.port},hard,timeo=600,retrans=2,sec={self.sec},"
            "_netdev,nofail,noatime,nosuid,nodev,noexec"
        )

    @property
    def fstab_line(self) -> str:
        return f"{self.server}:{self.export} {self.mount} nfs4 {self.options} 0 0"

    def step(self, host: str) -> Step:
        mnt = q(self.mount)
        source = f"{self.server}:{self.export}"
        check = "\n".join(
            [
                f"has_line /etc/fstab {q(self.fstab_line)} "
                f'|| drift "fstab entry for {self.mount} missing or different"',
                f'[ "$(findmnt -n -o FSTYPE,SOURCE --mountpoint {mnt} 2>/dev/null | tr -s " ")" = "nfs4 {source}" ] '
                f'|| drift "{source} is not mounted on {self.mount}"',
            ]
        )
        apply = "\n".join(
            [
                f"mkdir -p {mnt}",
                f'set_line /etc/fstab "^[^#[:space:]]+[[:space:]]+{self.mount}[[:space:]]" {q(self.fstab_line)}',
                f"mountpoint -q {mnt} || mount {mnt}",
            ]
        )
        return _step(self, host, f"nfs-{self.share}", "nfs-mount", self.row, check, apply)


# ------------------------------------------------------------------------------------------------ firewall


@dataclass(frozen=True)
class Firewall:
    """An nftables allow-list: SSH from admins, each service port from its clients, everything else dropped."""

    admin: tuple[str, ...]
    services: tuple[tuple[int, tuple[str, ...]], ...]  # (tcp port, allowed source CIDRs)
    vrrp_peers: tuple[str, ...] = ()  # a balancer's peer: keepalived's adverts (IP protocol 112) from it only

    def ruleset(self) -> str:
        lines = [
            f"table inet {NFT_TABLE}",
            f"delete table inet {NFT_TABLE}",
            f"table inet {NFT_TABLE} {{",
            "  chain input {",
            "    type filter hook input priority filter; policy drop;",
            '    iif "lo" accept',
            "    ct state established,related accept",
            "    ct state invalid drop",
            "    icmp type { echo-request, destination-unreachable, time-exceeded } accept",
            "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, echo-request } accept",
        ]
        for port, sources in ((22, self.admin), *self.services):
            if sources:
                lines.append(f"    tcp dport {port} ip saddr {{ {', '.join(sources)} }} accept")
        if self.vrrp_peers:
            lines.append(f"    ip protocol 112 ip saddr {{ {', '.join(self.vrrp_peers)} }} accept")
        lines += ['    limit rate 10/minute log prefix "opcloud-drop "', "    counter drop", "  }", "}", ""]
        return "\n".join(lines)

    def step(self, host: str) -> Step:
        rules = ManagedFile(NFT_FILE, self.ruleset(), "600")
        include = f'include "{NFT_FILE}"'
        # The live table must still be the one we loaded: a hand-added rule is drift.
        live = f"nft list table inet {NFT_TABLE} 2>/dev/null | sha256sum | cut -d' ' -f1"
        check = "\n".join(
            [
                rules.check(),
                f'has_line /etc/nftables.conf {q(include)} || drift "/etc/nftables.conf does not include {NFT_FILE}"',
                'unit_enabled nftables.service || drift "nftables.service is not enabled at boot"',
                f'[ -f {NFT_LIVE_HASH} ] && [ "$({live})" = "$(cat {NFT_LIVE_HASH})" ] '
                f'|| drift "the live table inet {NFT_TABLE} is not the managed ruleset"',
            ]
        )
        apply = "\n".join(
            [
                rules.put(),
                f"nft -c -f {NFT_FILE}",
                f"nft -f {NFT_FILE}",
                f"mkdir -p {posixpath.dirname(NFT_LIVE_HASH)}",
                f"{live} > {NFT_LIVE_HASH}",
                f"touch /etc/nftables.conf; set_line /etc/nftables.conf {q('^' + include + '$')} {q(include)}",
                "unit_enable nftables.service",
            ]
        )
        return _step(self, host, "firewall", "firewall", "network", check, apply)


# ----------------------------------------------------------------------------------- files + systemd units


@dataclass(frozen=True)
class ConfigFiles:
    """Managed files plus the units they concern: the shape of the PostgreSQL, pgBackRest, app, audit and
    log-shipping steps. `restart` units restart after a change when systemd runs (offline roots skip it)."""

    name: str
    kind: str
    files: tuple[ManagedFile, ...]
    enable: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    extra_check: str = ""
    before: str = ""  # apply: runs first (create a user, a cluster)
    after: str = ""  # apply: runs last

    def step(self, host: str, row: Row) -> Step:
        check = "\n".join(
            part
            for part in (
                self.extra_check,
                files_check(self.files),
                *(f'unit_enabled {q(u)} || drift "{u} is not enabled"' for u in self.enable),
                *(f"unit_active_or_offline {q(u)}" for u in self.restart),
            )
            if part
        )
        restart = "\n".join(f"unit_restart {q(u)}" for u in self.restart)
        apply = "\n".join(
            part
            for part in (
                self.before,
                "changed=0",
                *(f.put_if_changed("changed=1") for f in self.files),
                *(f"unit_enable {q(u)}" for u in self.enable),
                f'if [ "$changed" = 1 ]; then\n{restart}\nfi' if restart else "",
                self.after,
            )
            if part
        )
        spec = ConfigSpec(files={f.path: f.content for f in self.files}, enable=self.enable, restart=self.restart)
        return _step(spec, host, self.name, self.kind, row, check, apply)


@dataclass(frozen=True)
class ConfigSpec:
    files: dict[str, str]
    enable: Sequence[str]
    restart: Sequence[str]
