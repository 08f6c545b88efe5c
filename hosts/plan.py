"""The host steps of an IaaS environment, in the order they apply: one pure function, used by the CLI
(`opcloud hosts check/apply`) and by the Pulumi components alike, so both converge the same things."""

from __future__ import annotations

import math
from dataclasses import dataclass

from opcloud.hosts.balancer import LB_PACKAGES, balancer_step
from opcloud.hosts.cluster import (
    ETCD_CLIENT_PORT,
    ETCD_PACKAGES,
    ETCD_PEER_PORT,
    PATRONI_PACKAGES,
    PATRONI_PORT,
    etcd_step,
    members,
    patroni_step,
)
from opcloud.hosts.docs_backup import documents_backup_steps
from opcloud.hosts.release import RELEASE_PACKAGES, release_step
from opcloud.hosts.script import ManagedFile, Row, Step
from opcloud.hosts.steps import ConfigFiles, Filesystem, Firewall, IscsiAttach, Luks, NfsMount, Packages
from opcloud.hosts.vulnerability_scan import scan_step

from opcloud.config.environment import Environment, Inventory, SshHost
from opcloud.schedules import (
    BackupSchedule,
    archive_timeout_seconds,
    systemd_differential_calendar,
    systemd_full_calendar,
)

BASE_PACKAGES = ("sudo", "nftables", "auditd", "rsyslog", "rsyslog-gnutls", "debsecan")
DB_PACKAGES = ("open-iscsi", "cryptsetup-bin", "nfs-common", "ssl-cert")  # + postgresql-N, pgbackrest
APP_PACKAGES = ("nfs-common",)
APP_PORTS = {"api": 443, "docs": 443}
PG_PORT = 5432
APP_USER = "opcloud-app"


@dataclass(frozen=True)
class HostPlan:
    host: SshHost
    steps: list[Step]


def schedule(environment: Environment) -> BackupSchedule:
    backup = environment.backup
    return BackupSchedule(backup.full_weekday, backup.start_time, backup.log_interval_minutes, backup.retention_days)


def plan(environment: Environment) -> list[HostPlan]:
    inventory = _inventory(environment)
    return [HostPlan(host, host_steps(environment, host)) for host in inventory.hosts]


def _inventory(environment: Environment) -> Inventory:
    if environment.inventory is None:
        raise ValueError("an IaaS environment needs opcloud:inventory")
    return environment.inventory


def host_steps(environment: Environment, host: SshHost) -> list[Step]:
    inventory = _inventory(environment)
    name = host.name
    steps = [_packages(environment, host).step(name), _firewall(environment, host).step(name)]
    for volume in (v for v in inventory.iscsi if v.host == name):
        attach = IscsiAttach(
            volume.name,
            volume.portal,
            volume.target,
            volume.lun,
            volume.chap.username if volume.chap else None,
            volume.chap.password if volume.chap else None,
            volume.chap.target_username if volume.chap else None,
            volume.chap.target_password if volume.chap else None,
        )
        mapper = f"opcloud-{volume.name}"
        steps.append(attach.step(name))
        steps.append(Luks(volume.name, attach.device, mapper, volume.luks_key).step(name))
        row: Row = "database" if volume.purpose == "database" else "app"
        steps.append(
            Filesystem(volume.name, f"/dev/mapper/{mapper}", volume.filesystem, volume.mount, row=row).step(name)
        )
    for share in (s for s in inventory.nfs if name in s.hosts):
        share_row: Row = "documents" if share.purpose == "documents" else "backups"
        steps.append(
            NfsMount(
                share.name, str(share.server), share.port, share.export, share.mount, share.sec, share_row
            ).step(name)
        )
    steps += documents_backup_steps(environment, host)
    if _etcd_member(environment, host):
        steps.append(etcd_step(environment, host))
    if "db" in host.roles and inventory.database_cluster is not None:
        steps.append(patroni_step(environment, host, _db_volume_mount(environment, host), stanza(environment)))
    elif "db" in host.roles:
        steps.append(_postgres(environment, host).step(name, "database"))
    if "db" in host.roles:
        steps.append(_pgbackrest(environment, host).step(name, "backups"))
    for role in ("api", "docs"):
        if role in host.roles and environment.app.release is not None:
            steps.append(release_step(environment, name, role, _documents_mounts(environment, host)))
        elif role in host.roles:
            steps.append(_app_unit(environment, host, role).step(name, "app"))
    if "lb" in host.roles:
        steps.append(balancer_step(environment, host))
    steps.append(_audit(environment, host).step(name, "audit"))
    steps.append(scan_step(environment, host, inventory.backup_mount(name)))
    if inventory.log_server:
        steps.append(_log_shipping(inventory.log_server).step(name, "audit"))
    return steps


# ------------------------------------------------------------------------------------------------ specs


def _packages(environment: Environment, host: SshHost) -> Packages:
    wanted = list(BASE_PACKAGES)
    if "db" in host.roles:
        wanted += [*DB_PACKAGES, f"postgresql-{environment.database.engine_version}", "pgbackrest"]
    if {"api", "docs"} & set(host.roles):
        wanted += APP_PACKAGES
        if environment.app.release is not None:
            wanted += RELEASE_PACKAGES
    if "lb" in host.roles:
        wanted += LB_PACKAGES
    if _etcd_member(environment, host):
        wanted += PATRONI_PACKAGES if "db" in host.roles else ETCD_PACKAGES
    return Packages(tuple(dict.fromkeys(wanted)))


def _etcd_member(environment: Environment, host: SshHost) -> bool:
    inventory = _inventory(environment)
    return inventory.database_cluster is not None and host.name in {m.name for m in members(environment)}


def _pg_data_dir(environment: Environment, host: SshHost) -> str:
    """Where PostgreSQL keeps its data on the encrypted volume (Patroni's own directory when it manages it)."""
    leaf = "patroni" if _inventory(environment).database_cluster is not None else "main"
    return f"{_db_volume_mount(environment, host)}/{environment.database.engine_version}/{leaf}"


def _app_clients(environment: Environment) -> list[str]:
    inventory = _inventory(environment)
    return [f"{h.address}/32" for h in inventory.hosts if {"api", "docs"} & set(h.roles)]


def _firewall(environment: Environment, host: SshHost) -> Firewall:
    inventory = _inventory(environment)
    network = environment.network
    admin = [str(c) for c in network.admin_cidrs]
    if host.bastion:
        admin.append(f"{inventory.bastion(host.bastion).address}/32")
    services: list[tuple[int, tuple[str, ...]]] = []
    public = tuple(str(c) for c in network.allowed_cidrs)
    balancers = [inventory.host(n) for n in inventory.load_balancers.hosts] if inventory.load_balancers else []
    vrrp_peers: tuple[str, ...] = ()
    if "lb" in host.roles:
        services.append((443, public))
        vrrp_peers = tuple(f"{b.address}/32" for b in balancers if b.name != host.name)
    if {"api", "docs"} & set(host.roles):
        # Behind a balancer pair the services answer the balancers only: clients meet its rate limit first.
        services.append((443, tuple(f"{b.address}/32" for b in balancers) if balancers else public))
    cluster = [f"{m.address}/32" for m in members(environment)] if _etcd_member(environment, host) else []
    if "db" in host.roles:
        peers = [c for c in cluster if c != f"{host.address}/32"]
        services.append(
            (PG_PORT, tuple(dict.fromkeys(_app_clients(environment) + [str(c) for c in network.admin_cidrs] + peers)))
        )
        if cluster:
            services.append((PATRONI_PORT, tuple(dict.fromkeys(peers + [str(c) for c in network.admin_cidrs]))))
    if cluster:
        services += [(ETCD_CLIENT_PORT, tuple(cluster)), (ETCD_PEER_PORT, tuple(cluster))]
    return Firewall(tuple(dict.fromkeys(admin)), tuple(services), vrrp_peers)


def _primary_url(host: SshHost) -> str:
    """Patroni answers 200 here on the primary only."""
    return f"https://{host.address}:{PATRONI_PORT}/primary"


def _on_primary_only(environment: Environment, host: SshHost) -> list[str]:
    """pgBackRest follows the primary: on a Patroni host the backup runs only where Patroni says it leads."""
    if _inventory(environment).database_cluster is None:
        return []
    return [f"ExecCondition=/usr/bin/curl -fsk -o /dev/null {_primary_url(host)}"]


def _db_volume_mount(environment: Environment, host: SshHost) -> str:
    inventory = _inventory(environment)
    return next(v.mount for v in inventory.iscsi if v.host == host.name and v.purpose == "database")


def _backup_mount(environment: Environment, host: SshHost) -> str:
    inventory = _inventory(environment)
    return next(s.mount for s in inventory.nfs if host.name in s.hosts and s.purpose == "backup")


def stanza(environment: Environment) -> str:
    return environment.stack_prefix


def _postgres(environment: Environment, host: SshHost) -> ConfigFiles:
    version = environment.database.engine_version
    etc = f"/etc/postgresql/{version}/main"
    data = f"{_db_volume_mount(environment, host)}/{version}/main"
    conf = "\n".join(
        [
            "# managed by opcloud",
            f"listen_addresses = 'localhost,{host.address}'",
            f"port = {PG_PORT}",
            "ssl = on",
            "ssl_min_protocol_version = 'TLSv1.2'",
            "password_encryption = scram-sha-256",
            "wal_level = replica",
            "archive_mode = on",
            f"archive_command = 'pgbackrest --stanza={stanza(environment)} archive-push %p'",
            # A WAL segment leaves the host at least this often: the log backup interval of the schedule.
            f"archive_timeout = {archive_timeout_seconds(schedule(environment))}",
            "log_connections = on",
            "log_disconnections = on",
            "",
        ]
    )
    hba = [
        "# managed by opcloud: local peers, TLS with SCRAM for every remote client on the allow-list, nothing else",
        "local   all   postgres   peer",
        "local   all   all        peer",
        "hostssl all   all   127.0.0.1/32   scram-sha-256",
        *(f"hostssl {environment.database.name} all {cidr} scram-sha-256" for cidr in _app_clients(environment)),
        *(f"hostssl all all {cidr} scram-sha-256" for cidr in environment.network.admin_cidrs),
        "host    all   all   0.0.0.0/0   reject",
        "host    all   all   ::/0        reject",
        "",
    ]
    unit = f"postgresql@{version}-main.service"
    create = (
        # An existing cluster elsewhere (the package's default one) is never moved or dropped implicitly.
        f"if [ -f {etc}/postgresql.conf ] && "
        f"! grep -qE \"^data_directory = '{data}'([[:space:]]|$)\" {etc}/postgresql.conf; then\n"
        f"  echo 'cluster {version}/main exists outside {data}: move it (or pg_dropcluster an unused one) first' >&2\n"
        "  exit 1\n"
        "fi\n"
        f"if [ ! -f {etc}/postgresql.conf ]; then\n"
        f"  mountpoint -q {_db_volume_mount(environment, host)} || "
        f"{{ echo 'the database volume is not mounted' >&2; exit 1; }}\n"
        f"  pg_createcluster --start-conf=auto -d {data} {version} main >/dev/null\n"
        "fi"
    )
    start = (
        f"if ! systemd_up; then pg_ctlcluster {version} main status >/dev/null 2>&1 || "
        f"pg_ctlcluster {version} main start; fi\n"
        f'if ! systemd_up && [ "$changed" = 1 ]; then pg_ctlcluster {version} main restart; fi'
    )
    check = (
        f'[ -f {etc}/postgresql.conf ] || drift "no cluster {version}/main"\n'
        f"grep -qE \"^data_directory = '{data}'([[:space:]]|$)\" {etc}/postgresql.conf "
        f'|| drift "the data directory is not {data} on the encrypted volume"\n'
        f"if ! systemd_up; then pg_ctlcluster {version} main status >/dev/null 2>&1 || "
        f'drift "cluster {version}/main is not running"; fi'
    )
    return ConfigFiles(
        name="postgresql",
        kind="postgresql",
        files=(
            ManagedFile(f"{etc}/conf.d/50-opcloud.conf", conf, "644", "postgres:postgres"),
            ManagedFile(f"{etc}/pg_hba.conf", "\n".join(hba), "640", "postgres:postgres"),
        ),
        enable=(unit,),
        restart=(unit,),
        extra_check=check,
        before=create,
        after=start,
    )


def _pgbackrest(environment: Environment, host: SshHost) -> ConfigFiles:
    sched = schedule(environment)
    version = environment.database.engine_version
    name = stanza(environment)
    repo = f"{_backup_mount(environment, host)}/{name}"
    conf = "\n".join(
        [
            "# managed by opcloud: repository on the NFS share at the second site",
            "[global]",
            f"repo1-path={repo}",
            # Full backups are weekly: keep enough of them to cover the retention in days.
            f"repo1-retention-full={max(1, math.ceil(sched.retention_days / 7))}",
            "repo1-retention-full-type=count",
            f"repo1-retention-diff={len(sched.differential_weekdays)}",
            "start-fast=y",
            "compress-type=zst",
            "process-max=2",
            "log-level-console=info",
            "",
            f"[{name}]",
            f"pg1-path={_pg_data_dir(environment, host)}",
            f"pg1-port={PG_PORT}",
            "",
        ]
    )
    files = [ManagedFile("/etc/pgbackrest/pgbackrest.conf", conf, "640", "root:postgres")]
    timers = []
    for kind, calendar in (("full", systemd_full_calendar(sched)), ("diff", systemd_differential_calendar(sched))):
        service = "\n".join(
            [
                "[Unit]",
                f"Description=pgBackRest {kind} backup of {name} (opcloud)",
                f"After=postgresql@{version}-main.service",
                f"RequiresMountsFor={_backup_mount(environment, host)}",
                "[Service]",
                "Type=oneshot",
                "User=postgres",
                *_on_primary_only(environment, host),
                f"ExecStart=/usr/bin/pgbackrest --stanza={name} --type={kind} backup",
                "",
            ]
        )
        timer = "\n".join(
            [
                "[Unit]",
                f"Description=pgBackRest {kind} backup schedule (opcloud)",
                "[Timer]",
                f"OnCalendar={calendar}",
                "Persistent=true",
                "[Install]",
                "WantedBy=timers.target",
                "",
            ]
        )
        files += [
            ManagedFile(f"/etc/systemd/system/pgbackrest-{kind}.service", service),
            ManagedFile(f"/etc/systemd/system/pgbackrest-{kind}.timer", timer),
        ]
        timers.append(f"pgbackrest-{kind}.timer")
    info = f"{repo}/backup/{name}/backup.info"
    leader = " && curl -fsk -o /dev/null " + _primary_url(host) if _inventory(environment).database_cluster else ""
    stanza_create = (
        f"if [ ! -f {info} ]{leader}; then\n"
        f"  mkdir -p {repo} && chown postgres:postgres {repo}\n"
        f"  runuser -u postgres -- pgbackrest --stanza={name} stanza-create\n"
        "fi\n"
        "if systemd_up; then systemctl daemon-reload; fi"
    )
    return ConfigFiles(
        name="pgbackrest",
        kind="pgbackrest",
        files=tuple(files),
        enable=tuple(timers),
        extra_check=f'[ -f {info} ] || drift "stanza {name} is not created in {repo}"',
        after=stanza_create,
    )


def _documents_mounts(environment: Environment, host: SshHost) -> list[str]:
    inventory = _inventory(environment)
    return [s.mount for s in inventory.nfs if host.name in s.hosts and s.purpose == "documents"]


def _app_unit(environment: Environment, host: SshHost, role: str) -> ConfigFiles:
    inventory = _inventory(environment)
    service = f"{environment.platform}-{role}"
    documents = [s.mount for s in inventory.nfs if host.name in s.hosts and s.purpose == "documents"]
    release = f"/opt/{environment.platform}/{inventory.app_version}"
    unit = "\n".join(
        [
            "[Unit]",
            f"Description={environment.platform} {role} service (opcloud)",
            "Wants=network-online.target",
            "After=network-online.target remote-fs.target",
            *(f"RequiresMountsFor={m}" for m in documents),
            "[Service]",
            f"User={APP_USER}",
            f"ExecStart={release}/bin/{role} --listen 0.0.0.0:{APP_PORTS[role]} "
            f"--tls-cert {environment.app.certificate} --domain {environment.app.domain}",
            f"EnvironmentFile=-/etc/opcloud/{service}.env",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            *(f"ReadWritePaths={m}" for m in documents),
            "Restart=on-failure",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
    add_user = (
        f"id -u {APP_USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {APP_USER}"
    )
    return ConfigFiles(
        name=f"app-{role}",
        kind="app-unit",
        files=(ManagedFile(f"/etc/systemd/system/{service}.service", unit),),
        enable=(f"{service}.service",),
        restart=(f"{service}.service",),
        extra_check=f'id -u {APP_USER} >/dev/null 2>&1 || drift "user {APP_USER} missing"',
        before=add_user,
    )


AUDIT_WATCHES = (
    ("/etc/passwd", "identity"),
    ("/etc/shadow", "identity"),
    ("/etc/group", "identity"),
    ("/etc/sudoers", "privilege"),
    ("/etc/sudoers.d", "privilege"),
    ("/etc/ssh/sshd_config", "sshd"),
    ("/etc/nftables.conf", "firewall"),
    ("/etc/nftables.d", "firewall"),
    ("/etc/fstab", "storage"),
    ("/etc/crypttab", "storage"),
)


def _audit(environment: Environment, host: SshHost) -> ConfigFiles:
    watches = list(AUDIT_WATCHES)
    if "db" in host.roles:
        watches += [("/etc/postgresql", "database"), ("/etc/pgbackrest", "database")]
    rules = "\n".join(
        [
            "## managed by opcloud",
            *(f"-w {path} -p wa -k opcloud-{key}" for path, key in watches),
            "-a always,exit -F arch=b64 -S execve -F euid=0 -F auid>=1000 -F auid!=unset -k opcloud-root-exec",
            "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k opcloud-modules",
            "",
        ]
    )
    return ConfigFiles(
        name="audit-rules",
        kind="audit-rules",
        files=(ManagedFile("/etc/audit/rules.d/50-opcloud.rules", rules, "640"),),
        enable=("auditd.service",),
        # The kernel takes the rules only where auditd runs (not in a container or an offline root).
        after='if [ "$changed" = 1 ] && pidof auditd >/dev/null; then augenrules --load >/dev/null; fi',
    )


def _log_shipping(log_server: str) -> ConfigFiles:
    server, port = log_server.rsplit(":", 1)
    conf = "\n".join(
        [
            "# managed by opcloud: ship the audit log and auth events to the log server over TLS",
            'module(load="imfile")',
            'input(type="imfile" File="/var/log/audit/audit.log" Tag="auditd:" Facility="local6")',
            'if ($syslogfacility-text == "local6" or $syslogfacility-text == "authpriv") then {',
            f'  action(type="omfwd" target="{server}" port="{port}" protocol="tcp"',
            '         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"',
            f'         StreamDriverPermittedPeers="{server}"',
            '         StreamDriver.CAFile="/etc/ssl/certs/ca-certificates.crt"',
            '         queue.type="LinkedList" queue.filename="opcloud-ship" queue.saveOnShutdown="on"',
            '         action.resumeRetryCount="-1")',
            "}",
            "",
        ]
    )
    return ConfigFiles(
        name="log-shipping",
        kind="log-shipping",
        files=(ManagedFile("/etc/rsyslog.d/60-opcloud-ship.conf", conf),),
        enable=("rsyslog.service",),
        restart=("rsyslog.service",),
    )
