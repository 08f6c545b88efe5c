"""PostgreSQL high availability on a VM-only cloud: Patroni on the two db hosts, etcd on them and a witness
(Debian's packages). Patroni streams the standby from the primary over TLS with SCRAM, promotes it when the
primary's leader key expires, and demotes a primary that cannot renew its key (it stops taking writes): the
fencing. With `synchronous`, a commit returns only once the standby has it, so a failover loses none.

The PostgreSQL superuser and replication passwords reach the hosts over SSH stdin into /run (RAM) and Patroni
reads them from its environment: they are never in a file on disk.

etcd speaks TLS only, between members and to Patroni, with client certificates: each member's key is made on the
member, in /run, and its certificate signed there by the environment's cluster CA, whose key arrives on stdin
like the passwords and is gone when the step ends. A reboot clears /run: the next apply issues a new key.
"""

from __future__ import annotations

import yaml
from opcloud.hosts.script import ManagedFile, Step, q

from opcloud.config.environment import DatabaseCluster, Environment, SshHost
from opcloud.schedules import BackupSchedule, archive_timeout_seconds

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PATRONI_PORT = 8008
PATRONI_PACKAGES = ("patroni", "etcd-server", "etcd-client", "openssl")
ETCD_PACKAGES = ("etcd-server", "etcd-client", "openssl")
PATRONI_CONFIG = "/etc/patroni/config.yml"
PATRONI_SECRETS = "/run/opcloud/patroni"
SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
ETCD_TLS = "/run/opcloud/etcd"  # RAM, root:etcd 750: etcd and (through its group) Patroni read it
ETCD_CA = f"{ETCD_TLS}/ca.crt"
ETCD_CERT = f"{ETCD_TLS}/member.crt"
ETCD_KEY = f"{ETCD_TLS}/member.key"
ETCD_CERT_DAYS = 397
ETCD_RENEW_SECONDS = 30 * 24 * 3600  # a certificate this close to its end is reissued by the next apply

# etcd_cert_ok ADDRESS: the member's certificate is there, signed by the CA in /run, names ADDRESS, is not about
# to expire, and matches the key next to it.
_ETCD_CERT_OK = rf"""
etcd_cert_ok() {{
  [ -s {ETCD_CA} ] && [ -s {ETCD_CERT} ] && [ -s {ETCD_KEY} ] || return 1
  openssl verify -CAfile {ETCD_CA} {ETCD_CERT} >/dev/null 2>&1 || return 1
  openssl x509 -in {ETCD_CERT} -noout -checkend {ETCD_RENEW_SECONDS} >/dev/null || return 1
  openssl x509 -in {ETCD_CERT} -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$1\(,\|$\)" || return 1
  local public; public=$(openssl x509 -in {ETCD_CERT} -noout -pubkey | sha256sum)
  [ "$public" = "$(openssl pkey -in {ETCD_KEY} -pubout | sha256sum)" ]
}}
"""


def cluster(environment: Environment) -> DatabaseCluster:
    assert environment.inventory is not None and environment.inventory.database_cluster is not None
    return environment.inventory.database_cluster


def members(environment: Environment) -> list[SshHost]:
    """The etcd members: the two db hosts, then the witness."""
    spec = cluster(environment)
    assert environment.inventory is not None
    return [environment.inventory.host(n) for n in (*spec.hosts, spec.witness)]


def etcd_step(environment: Environment, host: SshHost) -> Step:
    """One etcd member; TLS with client certificates for peers and clients, on the members' own addresses (the
    firewall admits only them)."""
    initial = ",".join(f"{m.name}=https://{m.address}:{ETCD_PEER_PORT}" for m in members(environment))
    config = ManagedFile(
        "/etc/default/etcd",
        "\n".join(
            [
                "# managed by opcloud: one member of the Patroni cluster's etcd (TLS only, client certificates)",
                f"ETCD_NAME={host.name}",
                "ETCD_DATA_DIR=/var/lib/etcd/opcloud",
                f"ETCD_LISTEN_PEER_URLS=https://{host.address}:{ETCD_PEER_PORT}",
                f"ETCD_LISTEN_CLIENT_URLS=https://{host.address}:{ETCD_CLIENT_PORT},https://127.0.0.1:{ETCD_CLIENT_PORT}",
                f"ETCD_INITIAL_ADVERTISE_PEER_URLS=https://{host.address}:{ETCD_PEER_PORT}",
                f"ETCD_ADVERTISE_CLIENT_URLS=https://{host.address}:{ETCD_CLIENT_PORT}",
                f"ETCD_INITIAL_CLUSTER={initial}",
                f"ETCD_INITIAL_CLUSTER_TOKEN={environment.stack_prefix}",
                "ETCD_INITIAL_CLUSTER_STATE=new",
                f"ETCD_CERT_FILE={ETCD_CERT}",
                f"ETCD_KEY_FILE={ETCD_KEY}",
                f"ETCD_TRUSTED_CA_FILE={ETCD_CA}",
                "ETCD_CLIENT_CERT_AUTH=true",
                f"ETCD_PEER_CERT_FILE={ETCD_CERT}",
                f"ETCD_PEER_KEY_FILE={ETCD_KEY}",
                f"ETCD_PEER_TRUSTED_CA_FILE={ETCD_CA}",
                "ETCD_PEER_CLIENT_CERT_AUTH=true",
                "",
            ]
        ),
    )
    address = str(host.address)
    check = "\n".join(
        [
            _ETCD_CERT_OK.strip(),
            config.check(),
            f"etcd_cert_ok {q(address)} || drift \"the member's TLS certificate in {ETCD_TLS} is missing or not valid "
            '(a reboot clears it: apply again)"',
            'unit_enabled etcd.service || drift "etcd.service is not enabled"',
            "unit_active_or_offline etcd.service",
        ]
    )
    extensions = (
        f"subjectAltName=IP:{address},IP:127.0.0.1\\n"
        "extendedKeyUsage=serverAuth,clientAuth\\nkeyUsage=critical,digitalSignature,keyEncipherment\\n"
    )
    apply = "\n".join(
        [
            _ETCD_CERT_OK.strip(),
            "changed=0",
            "umask 077",
            f"install -d -m 750 -o root -g etcd {ETCD_TLS}",
            # The CA certificate: replaced (and every certificate reissued) when the environment's CA changes.
            f'work=$(mktemp -d {ETCD_TLS}/.issue.XXXXXX); trap \'rm -rf "$work"\' EXIT',
            'printf "%s\\n" "$ETCD_CA_CERT" > "$work/ca.crt"',
            f'if ! cmp -s "$work/ca.crt" {ETCD_CA}; then',
            f'  chgrp etcd "$work/ca.crt"; chmod 644 "$work/ca.crt"; mv -f "$work/ca.crt" {ETCD_CA}; changed=1',
            "fi",
            f"if ! etcd_cert_ok {q(address)}; then",
            # The CA key only in this step's RAM directory, removed on exit whatever happens.
            '  printf "%s\\n" "$ETCD_CA_KEY" > "$work/ca.key"',
            '  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/member.key" 2>/dev/null',
            f'  openssl req -new -key "$work/member.key" -subj {q("/CN=" + host.name)} -out "$work/member.csr"',
            f'  printf "{extensions}" > "$work/ext"',
            f'  openssl x509 -req -in "$work/member.csr" -CA {ETCD_CA} -CAkey "$work/ca.key" '
            f'-set_serial "0x$(openssl rand -hex 16)" -days {ETCD_CERT_DAYS} -extfile "$work/ext" '
            '-out "$work/member.crt" 2>/dev/null',
            '  rm -f "$work/ca.key"',
            '  chgrp etcd "$work/member.key" "$work/member.crt"; chmod 640 "$work/member.key"; '
            'chmod 644 "$work/member.crt"',
            f'  mv -f "$work/member.key" {ETCD_KEY}; mv -f "$work/member.crt" {ETCD_CERT}; changed=1',
            "fi",
            "umask 022",
            config.put_if_changed("changed=1"),
            "unit_enable etcd.service",
            # A member is up once a majority is: the hosts apply in parallel, so the three start together.
            'if systemd_up; then if [ "$changed" = 1 ]; then systemctl restart etcd.service; '
            "else systemctl start etcd.service; fi; fi",
        ]
    )
    spec = cluster(environment)
    inputs = {
        "member": host.name,
        "initialCluster": initial,
        "tls": {"ca": ETCD_CA, "cert": ETCD_CERT, "key": ETCD_KEY, "clientCertAuth": True},
        "files": {config.path: config.content},
    }
    secrets = {"ETCD_CA_CERT": spec.ca_certificate, "ETCD_CA_KEY": spec.ca_key}
    return Step(host.name, "etcd", "etcd", "database", check, apply, inputs, secrets)


def patroni_config(environment: Environment, host: SshHost, data_mount: str, stanza: str) -> str:
    spec = cluster(environment)
    assert environment.inventory is not None
    version = environment.database.engine_version
    peer = environment.inventory.host(next(n for n in spec.hosts if n != host.name))
    app_clients = [f"{h.address}/32" for h in environment.inventory.hosts if {"api", "docs"} & set(h.roles)]
    ttl = spec.ttl_seconds
    hba = [
        "local all all peer",
        "hostssl all all 127.0.0.1/32 scram-sha-256",
        f"hostssl replication replicator {peer.address}/32 scram-sha-256",
        f"hostssl replication replicator {host.address}/32 scram-sha-256",
        f"hostssl all postgres {peer.address}/32 scram-sha-256",  # pg_rewind from the new primary
        *(f"hostssl {environment.database.name} all {c} scram-sha-256" for c in app_clients),
        *(f"hostssl all all {c} scram-sha-256" for c in environment.network.admin_cidrs),
        "host all all 0.0.0.0/0 reject",
        "host all all ::/0 reject",
    ]
    document = {
        "scope": environment.stack_prefix,
        "namespace": "/opcloud/",
        "name": host.name,
        "restapi": {
            "listen": f"{host.address}:{PATRONI_PORT}",
            "connect_address": f"{host.address}:{PATRONI_PORT}",
            "certfile": SNAKEOIL[0],
            "keyfile": SNAKEOIL[1],
        },
        # TLS with the member's own client certificate (etcd accepts no client without one).
        "etcd3": {
            "hosts": [f"{m.address}:{ETCD_CLIENT_PORT}" for m in members(environment)],
            "protocol": "https",
            "cacert": ETCD_CA,
            "cert": ETCD_CERT,
            "key": ETCD_KEY,
        },
        "bootstrap": {
            "dcs": {
                "ttl": ttl,
                "loop_wait": max(1, ttl // 5),
                "retry_timeout": max(1, ttl // 3),
                "maximum_lag_on_failover": 0 if spec.synchronous else 1048576,
                "synchronous_mode": spec.synchronous,
                "postgresql": {
                    "use_pg_rewind": True,
                    "parameters": {
                        "ssl": "on",
                        "ssl_min_protocol_version": "TLSv1.2",
                        "ssl_cert_file": SNAKEOIL[0],
                        "ssl_key_file": SNAKEOIL[1],
                        "password_encryption": "scram-sha-256",
                        "wal_level": "replica",
                        "wal_log_hints": "on",
                        "hot_standby": "on",
                        "archive_mode": "on",
                        "archive_command": f"pgbackrest --stanza={stanza} archive-push %p",
                        "archive_timeout": archive_timeout_seconds(_schedule(environment)),
                        "log_connections": "on",
                        "log_disconnections": "on",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"{host.address},127.0.0.1:5432",
            "connect_address": f"{host.address}:5432",
            "data_dir": f"{data_mount}/{version}/patroni",
            "bin_dir": f"/usr/lib/postgresql/{version}/bin",
            "pgpass": f"{PATRONI_SECRETS}/pgpass",
            "authentication": {
                "superuser": {"username": "postgres", "sslmode": "require"},
                "replication": {"username": "replicator", "sslmode": "require"},
                "rewind": {"username": "postgres", "sslmode": "require"},
            },
            "parameters": {"unix_socket_directories": "/var/run/postgresql"},
            "pg_hba": hba,
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    return "# managed by opcloud (passwords come from the environment, never this file)\n" + yaml.safe_dump(
        document, sort_keys=False
    )


def _schedule(environment: Environment) -> BackupSchedule:
    backup = environment.backup
    return BackupSchedule(backup.full_weekday, backup.start_time, backup.log_interval_minutes, backup.retention_days)


def patroni_step(environment: Environment, host: SshHost, data_mount: str, stanza: str) -> Step:
    config = ManagedFile(PATRONI_CONFIG, patroni_config(environment, host, data_mount, stanza), "640", "root:postgres")
    dropin = ManagedFile(
        "/etc/systemd/system/patroni.service.d/opcloud.conf",
        "[Unit]\nAfter=etcd.service\n"
        f"RequiresMountsFor={data_mount}\n"
        "[Service]\n"
        # etcd's group reads the member's client certificate and key in /run/opcloud/etcd.
        "SupplementaryGroups=etcd\n"
        # The passwords: in RAM, written by the apply that unlocked the volume (a reboot waits for the next).
        f"EnvironmentFile={PATRONI_SECRETS}/env\n",
    )
    version = environment.database.engine_version
    check = "\n".join(
        [
            config.check(),
            dropin.check(),
            f'[ -s {PATRONI_SECRETS}/env ] || drift "the database passwords are not in {PATRONI_SECRETS}"',
            'unit_enabled patroni.service || drift "patroni.service is not enabled"',
            "unit_active_or_offline patroni.service",
        ]
    )
    env_lines = "PATRONI_SUPERUSER_PASSWORD=%s\\nPATRONI_REPLICATION_PASSWORD=%s\\nPATRONI_REWIND_PASSWORD=%s\\n"
    apply = "\n".join(
        [
            f"mountpoint -q {q(data_mount)} || {{ echo 'the database volume is not mounted on {data_mount}' >&2; "
            "exit 1; }",
            # The package's own cluster is never used: Patroni owns PostgreSQL here.
            f"install -d -m 700 -o postgres -g postgres {q(data_mount)}/{version}",
            f"install -d -m 700 -o postgres -g postgres {PATRONI_SECRETS}",
            "changed=0",
            "umask 077",
            f'tmp=$(mktemp {PATRONI_SECRETS}/.env.XXXXXX); printf "{env_lines}" "$PG_SUPERUSER_PASSWORD" '
            '"$PG_REPLICATION_PASSWORD" "$PG_SUPERUSER_PASSWORD" > "$tmp"',
            f'if [ "$(sha_of "$tmp")" != "$(sha_of {PATRONI_SECRETS}/env)" ]; then '
            f'chown postgres:postgres "$tmp"; mv -f "$tmp" {PATRONI_SECRETS}/env; changed=1; else rm -f "$tmp"; fi',
            "umask 022",
            config.put_if_changed("changed=1"),
            dropin.put_if_changed("changed=1"),
            "unit_enable patroni.service",
            "if systemd_up; then",
            "  systemctl daemon-reload",
            '  if [ "$changed" = 1 ]; then systemctl restart patroni.service; else systemctl start patroni.service; fi',
            "fi",
        ]
    )
    spec = cluster(environment)
    inputs = {
        "cluster": environment.stack_prefix,
        "members": [m.name for m in members(environment)],
        "synchronous": spec.synchronous,
        "ttlSeconds": spec.ttl_seconds,
        "files": {config.path: config.content, dropin.path: dropin.content},
    }
    secrets = {"PG_SUPERUSER_PASSWORD": spec.superuser_password, "PG_REPLICATION_PASSWORD": spec.replication_password}
    return Step(host.name, "patroni", "patroni", "database", check, apply, inputs, secrets)
