"""PostgreSQL high availability in disposable VMs: `opcloud hosts apply` sets up etcd on three hosts and Patroni
on two db hosts; the standby streams from the primary over TLS with SCRAM; a writer counts its commits while
the primary is killed; the standby takes over with every counted commit; the old primary, powered on again,
comes back as a standby (fenced: it refuses writes)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from opcloud.cli import app
from tests.iaas.release_fixtures import (
    SECRET_ENV,
    build_artifact,
    make_cluster_ca,
    make_tls,
    write_release_environment,
)
from tests.servers.iaas_host import IaasHost, IaasNetwork

SUPERUSER_ENV, REPLICATION_ENV = "OPCLOUD_TEST_PG_SUPERUSER", "OPCLOUD_TEST_PG_REPLICATION"
SUPERUSER_PASSWORD = "superuser-pw-for-the-cluster-test"
STEPS = [arg for kind in ("packages", "firewall", "etcd", "patroni") for arg in ("--step", kind)]


# How many disposable VMs this module's network boots (the `net` fixture, tests/iaas/conftest.py).
VMS = 3


def hosts(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["hosts", *args, "--json"])
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout)


def eventually(condition: Callable[[], bool], what: str, explain: Callable[[], str] = lambda: "") -> None:
    """Poll what Patroni reaches on its own (its loop runs every ttl/5 seconds)."""
    for _ in range(240):
        try:
            if condition():
                return
        except (psycopg.Error, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"never happened: {what} {explain()}")


def connect(vm: IaasHost) -> psycopg.Connection:
    return psycopg.connect(
        host=vm.address, user="postgres", password=SUPERUSER_PASSWORD, dbname="postgres", sslmode="require",
        connect_timeout=3, autocommit=True, tcp_user_timeout=3000,  # a dead host's socket errors out in 3 s
    )  # fmt: skip


def role(vm: IaasHost) -> str:
    with connect(vm) as conn:
        in_recovery = conn.execute("select pg_is_in_recovery()").fetchone()
        assert in_recovery is not None
        return "standby" if in_recovery[0] else "primary"


def test_failover_keeps_every_commit_and_fences_the_old_primary(
    net: IaasNetwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "unused")
    monkeypatch.setenv(SUPERUSER_ENV, SUPERUSER_PASSWORD)
    monkeypatch.setenv(REPLICATION_ENV, "replication-pw-for-the-cluster-test")
    db_1, db_2, witness = net.vms
    artifact = build_artifact(tmp_path, "1.0.0")
    ca = make_cluster_ca(tmp_path)
    env = write_release_environment(
        tmp_path, net, make_tls(tmp_path), ("http://10.214.0.1/a.tgz", artifact), ("http://10.214.0.1/a.tgz", artifact),
        hosts=[
            {"name": "witness", "address": witness.address, "roles": ["api"]},
            {"name": "docs-1", "address": f"{net.prefix}.251", "roles": ["docs"]},
        ],
        db_hosts=[
            {"name": "db-1", "address": db_1.address, "roles": ["db"]},
            {"name": "db-2", "address": db_2.address, "roles": ["db"]},
        ],
        database_cluster={
            "hosts": ["db-1", "db-2"], "witness": "witness", "ttlSeconds": 10,
            "superuserPassword": {"env": SUPERUSER_ENV}, "replicationPassword": {"env": REPLICATION_ENV},
            "caCertificate": {"file": str(ca.certificate)}, "caKey": {"file": str(ca.key)},
        },
    )  # fmt: skip
    # The encrypted iSCSI volume cannot be attached in this kernel: a bind mount stands in for its mount point.
    for vm in (db_1, db_2):
        vm.sh("mkdir -p /srv/pgdata && mount --bind /srv/pgdata /srv/pgdata")
    only = [arg for name in ("db-1", "db-2", "witness") for arg in ("--host", name)]
    code, report = hosts("apply", str(env), *only, *STEPS)
    assert code == 0, [(s["host"], s["step"], s["detail"]) for s in report["steps"] if s["status"] != "ok"]

    def journal() -> str:
        return "\n".join(vm.sh("journalctl -u patroni -u etcd --no-pager | tail -n 15", check=False) for vm in net.vms)

    eventually(lambda: role(db_1) == "primary" or role(db_2) == "primary", "a primary is elected", journal)
    assert_etcd_tls_only(net)
    ca_key = ca.key.read_bytes()
    for index, vm in enumerate(net.vms, start=1):
        # The CA key was in the step's RAM only: not in /run after it, not on any VM's disk (its overlay).
        assert vm.sh("ls -A /run/opcloud/etcd").split() == ["ca.crt", "member.crt", "member.key"]
        upper = net.work_root / f"vm{index}" / "upper"
        assert not [p for p in upper.rglob("*") if p.is_file() and ca_key in p.read_bytes()]
    primary, standby = (db_1, db_2) if role(db_1) == "primary" else (db_2, db_1)
    eventually(lambda: role(standby) == "standby", "the standby is up", journal)

    def replication() -> list[tuple[str, bool]]:
        with connect(primary) as conn:
            return conn.execute(
                "select sync_state, ssl from pg_stat_replication join pg_stat_ssl using (pid)"
            ).fetchall()

    # Streaming over TLS; synchronous once Patroni's next loop names the standby.
    eventually(lambda: replication() == [("sync", True)], "the standby is synchronous", journal)
    with connect(primary) as conn:
        assert conn.execute("show password_encryption").fetchone() == ("scram-sha-256",)
        conn.execute("create table commits (n int primary key)")

    # A writer counts the commits the primary acknowledged; the primary is killed while it writes.
    committed: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            try:
                with connect(primary) as conn:
                    while not stop.is_set():
                        n += 1
                        conn.execute("insert into commits values (%s)", (n,))
                        committed.append(n)
            except psycopg.Error:
                time.sleep(0.2)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    eventually(lambda: len(committed) >= 200, "the writer commits")
    net.kill(primary)
    eventually(lambda: role(standby) == "primary", "the standby takes over", journal)
    stop.set()
    thread.join()
    with connect(standby) as conn:
        rows = {n for (n,) in conn.execute("select n from commits").fetchall()}
    assert set(committed) <= rows, f"{len(set(committed) - rows)} acknowledged commits lost"

    # The old primary comes back: it lost its leader key, so it rejoins as a standby and refuses writes.
    net.restart(primary)
    primary.sh("mount --bind /srv/pgdata /srv/pgdata")
    # Its etcd key and certificate were in RAM: the apply after a reboot issues new ones, then starts Patroni.
    name = primary_name(primary, db_1)
    code, report = hosts("apply", str(env), "--host", name, "--step", "etcd", "--step", "patroni")
    assert code == 0, report
    eventually(lambda: role(primary) == "standby", "the old primary rejoins as a standby", journal)
    with connect(primary) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("insert into commits values (-1)")


def assert_etcd_tls_only(net: IaasNetwork) -> None:
    """Every member answers etcd's client and peer ports over TLS only, and only to a client presenting a
    certificate of the cluster CA. Asked from the witness: the members' firewalls admit only the members."""
    witness = net.vms[2]
    tls = "--http1.1 --cacert /run/opcloud/etcd/ca.crt"
    member_cert = "--cert /run/opcloud/etcd/member.crt --key /run/opcloud/etcd/member.key"
    for vm in net.vms:
        for port in (2379, 2380):
            url = f"{vm.address}:{port}/version"
            assert "etcdserver" in witness.sh(f"curl -sS --max-time 5 {tls} {member_cert} https://{url}")
            plain = witness.sh(f"curl -sS --max-time 5 http://{url}; echo rc=$?", check=False)
            assert "etcdserver" not in plain, plain
            anonymous = witness.sh(f"curl -sS --max-time 5 {tls} https://{url}; echo rc=$?", check=False)
            assert "etcdserver" not in anonymous and "rc=0" not in anonymous, anonymous


def primary_name(vm: IaasHost, db_1: IaasHost) -> str:
    return "db-1" if vm.address == db_1.address else "db-2"
