"""The documents share's backup on a VM-only cloud: restic, from ONE docs host, into a repository on the backup
NFS share at the second site.

Encrypted, deduplicated snapshots every day at the environment's backup start time, `forget` to the retention
after each one, and once a week (the full-backup weekday) `forget --prune` and `restic check`. Both runs go
through one script holding a lock, so the weekly prune never meets a backup on the repository. The repository
password is a secret reference: it reaches the host on the SSH channel's stdin (as the LUKS key does) and is
kept there only in a root-only file the script points restic at; it is never in the step's inputs or output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from opcloud.hosts.script import ManagedFile, Step, files_check, q

from opcloud.config.environment import Environment, NfsShare, SecretRef, SshHost

KIND = "documents-backup"
RESTIC = "/usr/bin/restic"


def daily_calendar(environment: Environment) -> str:
    return f"*-*-* {environment.backup.start_time.strftime('%H:%M')}:00 UTC"


def weekly_calendar(environment: Environment) -> str:
    backup = environment.backup
    return f"{backup.full_weekday[:3].capitalize()} *-*-* {backup.start_time.strftime('%H:%M')}:00 UTC"


def repository_path(backup_mount: str, share: str) -> str:
    return f"{backup_mount}/restic/{share}"


@dataclass(frozen=True)
class DocumentsBackup:
    share: str
    source: str  # where the documents share is mounted on the host
    backup_mount: str  # where the second-site backup share is mounted
    keep_daily: int
    keep_weekly: int
    daily_calendar: str
    weekly_calendar: str
    password: SecretRef = field(compare=False)

    @property
    def repository(self) -> str:
        return repository_path(self.backup_mount, self.share)

    @property
    def unit(self) -> str:
        return f"opcloud-docs-backup-{self.share}"

    @property
    def script_path(self) -> str:
        return f"/usr/local/sbin/{self.unit}"

    @property
    def password_file(self) -> str:
        return f"/etc/opcloud/restic-{self.share}.password"

    @property
    def timers(self) -> tuple[str, str]:
        return f"{self.unit}.timer", f"{self.unit}-maintain.timer"

    def script(self) -> str:
        keep = f"--keep-daily {self.keep_daily} --keep-weekly {self.keep_weekly}"
        return "\n".join(
            [
                "#!/bin/bash",
                f"# managed by opcloud: restic backup of the documents share {self.share} to the second site",
                "# usage: backup (daily: snapshot, then forget to the retention) | maintain (weekly: prune, check)",
                "set -euo pipefail",
                f"export RESTIC_REPOSITORY={q(self.repository)}",
                f"export RESTIC_PASSWORD_FILE={q(self.password_file)}",
                f"export RESTIC_CACHE_DIR=/var/cache/{self.unit}",
                # One restic run at a time on this repository: prune needs it alone.
                "mkdir -p /run/lock",
                f"exec 9>/run/lock/{self.unit}.lock",
                "flock 9",
                # An unmounted share would be an empty snapshot, or a repository on the local disk.
                f"mountpoint -q {q(self.source)} || {{ echo '{self.source} is not mounted: nothing to back up' >&2; "
                "exit 1; }",
                f"mountpoint -q {q(self.backup_mount)} || {{ echo '{self.backup_mount} (backup share) is not mounted' "
                ">&2; exit 1; }",
                'case "${1:-}" in',
                f"  backup) {RESTIC} backup --quiet --tag opcloud {q(self.source)}",
                f"          {RESTIC} forget --quiet --tag opcloud {keep} ;;",
                f"  maintain) {RESTIC} forget --quiet --tag opcloud {keep} --prune",
                f"            {RESTIC} check ;;",
                '  *) echo "usage: $0 backup|maintain" >&2; exit 2 ;;',
                "esac",
                "",
            ]
        )

    def files(self) -> tuple[ManagedFile, ...]:
        service = "\n".join(
            [
                "[Unit]",
                f"Description=restic {{what}} of the documents share {self.share} (opcloud)",
                "Wants=network-online.target",
                "After=network-online.target remote-fs.target",
                f"RequiresMountsFor={self.source} {self.backup_mount}",
                "[Service]",
                "Type=oneshot",
                f"ExecStart={self.script_path} {{mode}}",
                "Nice=10",
                "IOSchedulingClass=idle",
                "",
            ]
        )

        def timer(what: str, calendar: str) -> str:
            return "\n".join(
                [
                    "[Unit]",
                    f"Description=restic {what} schedule of the documents share {self.share} (opcloud)",
                    "[Timer]",
                    f"OnCalendar={calendar}",
                    "Persistent=true",
                    "[Install]",
                    "WantedBy=timers.target",
                    "",
                ]
            )

        base = f"/etc/systemd/system/{self.unit}"
        return (
            ManagedFile(self.script_path, self.script(), "700"),
            ManagedFile(f"{base}.service", service.format(what="backup", mode="backup")),
            ManagedFile(f"{base}.timer", timer("backup", self.daily_calendar)),
            ManagedFile(f"{base}-maintain.service", service.format(what="prune and check", mode="maintain")),
            ManagedFile(f"{base}-maintain.timer", timer("prune and check", self.weekly_calendar)),
        )

    def step(self, host: str) -> Step:
        files = self.files()
        repo, pw = q(self.repository), q(self.password_file)
        check = "\n".join(
            [
                'pkg_installed restic || drift "package restic not installed"',
                files_check(files),
                *(f'unit_enabled {q(t)} || drift "{t} is not enabled"' for t in self.timers),
                f'[ -s {pw} ] || drift "the repository password file {self.password_file} is missing"',
                f'[ "$(stat -c %a:%U:%G {pw})" = 600:root:root ] '
                f'|| drift "{self.password_file} is not root-only (600 root:root)"',
                f'[ -f {repo}/config ] || drift "restic repository {self.repository} is not initialised"',
            ]
        )
        apply = "\n".join(
            [
                '[ -n "${RESTIC_PASSWORD:-}" ] || '
                f'{{ echo "no restic password was passed for the documents share {self.share}" >&2; exit 1; }}',
                f"mountpoint -q {q(self.backup_mount)} || {{ echo '{self.backup_mount} (the backup share) is not "
                "mounted: the repository would land on the local disk' >&2; exit 1; }",
                "if ! pkg_installed restic; then",
                "  export DEBIAN_FRONTEND=noninteractive",
                "  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends restic >/dev/null",
                "fi",
                # The password goes to a root-only temporary file (printf is a builtin: no argv), is proved
                # against the repository, and only then replaces the host's file; the units come after it,
                # so a wrong password changes nothing on the host.
                "mkdir -p /etc/opcloud",
                f"tmp=$(mktemp {pw}.opcloud.XXXXXX); trap 'rm -f \"$tmp\"' EXIT",
                'printf "%s" "$RESTIC_PASSWORD" > "$tmp"',
                f'export RESTIC_REPOSITORY={repo} RESTIC_PASSWORD_FILE="$tmp" RESTIC_CACHE_DIR=/var/cache/{self.unit}',
                f"if [ ! -f {repo}/config ]; then mkdir -p {repo} && chmod 700 {repo} && {RESTIC} init >/dev/null; fi",
                f"{RESTIC} cat config >/dev/null 2>&1 || "
                f"{{ echo 'the restic password does not open {self.repository}' >&2; exit 1; }}",
                f'if ! cmp -s "$tmp" {pw}; then chown root:root "$tmp"; chmod 600 "$tmp"; mv -f "$tmp" {pw}; fi',
                f"chown root:root {pw}; chmod 600 {pw}",
                *(f.put_if_changed() for f in files),
                *(f"unit_enable {q(t)}" for t in self.timers),
                "if systemd_up; then systemctl daemon-reload; fi",
            ]
        )
        inputs = {
            "share": self.share,
            "source": self.source,
            "backup_mount": self.backup_mount,
            "repository": self.repository,
            "keep_daily": self.keep_daily,
            "keep_weekly": self.keep_weekly,
            "password": self.password.describe(),
            "password_file": self.password_file,
            "files": {f.path: f.content for f in files},
            "enable": list(self.timers),
        }
        return Step(
            host=host,
            name=f"docs-backup-{self.share}",
            kind=KIND,
            row="backups",
            check=check,
            apply=apply,
            inputs=inputs,
            secrets={"RESTIC_PASSWORD": self.password},
        )


def documents_backup_steps(environment: Environment, host: SshHost) -> list[Step]:
    """The restic step of every documents share this host is the one backup host of (the model ensures one)."""
    inventory = environment.inventory
    if inventory is None:
        return []
    steps = []
    for share in (s for s in inventory.nfs if s.purpose == "documents"):
        if inventory.documents_backup_host(share) == host.name:
            steps.append(_spec(environment, share, host).step(host.name))
    return steps


def _spec(environment: Environment, share: NfsShare, host: SshHost) -> DocumentsBackup:
    inventory = environment.inventory
    assert inventory is not None and share.backup_password is not None  # the model requires both
    backup_mount = inventory.backup_mount(host.name)
    assert backup_mount is not None  # the model requires the backup share on the docs host
    retention = environment.backup.retention_days
    return DocumentsBackup(
        share=share.name,
        source=share.mount,
        backup_mount=backup_mount,
        keep_daily=retention,
        keep_weekly=math.ceil(retention / 7),
        daily_calendar=daily_calendar(environment),
        weekly_calendar=weekly_calendar(environment),
        password=share.backup_password,
    )
