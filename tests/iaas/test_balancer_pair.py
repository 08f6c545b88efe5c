"""The balancer pair in disposable VMs: `opcloud hosts apply` sets up HAProxy + keepalived on two hosts (each
configuration accepted by its daemon first), the virtual address answers over TLS and routes to the api and
docs hosts, a client past the rate limit gets 429, a backend whose health fails is taken out, and when the
first balancer dies the virtual address moves to the second."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opcloud.cli import app
from tests.iaas.release_fixtures import (
    DOMAIN,
    SECRET_ENV,
    Tls,
    artifact_store,
    build_artifact,
    write_release_environment,
)
from tests.servers.iaas_host import IaasNetwork

RATE_LIMIT = 100  # the model's minimum: requests per client address in 5 minutes


# How many disposable VMs this module's network boots (the `net` fixture, tests/iaas/conftest.py).
VMS = 4


def hosts(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["hosts", *args, "--json"])
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout)


def get(address: str, path: str, tls: Tls) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(tls.certificate))
    with (
        socket.create_connection((address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as conn,
    ):
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {DOMAIN}\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def eventually(
    condition: Callable[[], bool], what: str, attempts: int = 60, explain: Callable[[], str] = lambda: ""
) -> None:
    """Poll a condition the daemons reach on their own (health checks every 2 s, VRRP adverts every 1 s)."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"never happened: {what} {explain()}")


def test_balancer_pair_serves_limits_checks_and_fails_over(
    net: IaasNetwork, files: Path, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "db-password-balancers")
    lb_1, lb_2, api_1, docs_1 = net.vms
    vip = f"{net.prefix}.100"
    v1 = build_artifact(files, "1.0.0")
    with artifact_store(files, net.gateway) as store:
        env = write_release_environment(
            files, net, tls, (f"{store}/{v1.name}", v1), (f"{store}/{v1.name}", v1), health_timeout=10,
            hosts=[
                {"name": "lb-1", "address": lb_1.address, "roles": ["lb"]},
                {"name": "lb-2", "address": lb_2.address, "roles": ["lb"]},
                {"name": "api-1", "address": api_1.address, "roles": ["api"]},
                {"name": "docs-1", "address": docs_1.address, "roles": ["docs"]},
            ],
            load_balancers={"hosts": ["lb-1", "lb-2"], "virtualAddress": vip, "virtualRouterId": 77},
            rate_limit=RATE_LIMIT,
        )  # fmt: skip
        # Every step but the NFS mount of the docs host (this kernel has no NFS client): a plain directory
        # stands in for the share the docs unit writes to.
        docs_1.sh("mkdir -p /srv/documents")
        steps = [arg for kind in ("packages", "firewall", "release", "load-balancer") for arg in ("--step", kind)]
        only = [arg for name in ("lb-1", "lb-2", "api-1", "docs-1") for arg in ("--host", name)]
        code, report = hosts("apply", str(env), *only, *steps)
    assert code == 0, [(s["host"], s["step"], s["detail"]) for s in report["steps"] if s["status"] != "ok"][-3:]
    assert {(s["host"], s["status"]) for s in report["steps"] if s["kind"] == "load-balancer"} == {
        ("lb-1", "changed"), ("lb-2", "changed"),
    }  # fmt: skip

    # The daemons accept what is live (the step validated each file with them before it replaced the old one).
    for vm in (lb_1, lb_2):
        assert "Configuration file is valid" in vm.sh("haproxy -c -f /etc/haproxy/haproxy.cfg 2>&1")
        vm.sh("keepalived -t -f /etc/keepalived/keepalived.conf")
    # The first balancer holds the virtual address; through it, TLS for the domain and routing by path.
    eventually(
        lambda: vip in lb_1.sh("ip -4 addr show dev eth0"),
        "lb-1 holds the virtual address",
        explain=lambda: lb_1.sh("journalctl -u keepalived -u haproxy --no-pager | tail -n 30", check=False),
    )
    eventually(lambda: get(vip, "/api/tenders", tls)[0] == 200, "the api backend is up")
    eventually(lambda: get(vip, "/documents/1", tls)[0] == 200, "the docs backend is up")
    assert get(vip, "/api/tenders", tls) == (200, "api 1.0.0")
    assert get(vip, "/documents/1", tls) == (200, "docs 1.0.0")
    # The services answer the balancers only: the firewall of the api host drops this machine.
    with pytest.raises(OSError):
        socket.create_connection((api_1.address, 443), timeout=2).close()

    # A backend whose health path fails is taken out (503), and back in when it answers again.
    api_1.sh("systemctl stop prozorro-api.service")
    eventually(lambda: get(vip, "/api/tenders", tls)[0] == 503, "the stopped api host is taken out")
    api_1.sh("systemctl start prozorro-api.service")
    eventually(lambda: get(vip, "/api/tenders", tls)[0] == 200, "the api host is back")

    # Per-client rate limit: this machine's requests in the window are counted; past the limit, 429.
    codes = [get(vip, "/documents/1", tls)[0] for _ in range(RATE_LIMIT + 5)]
    assert 429 in codes and codes[-1] == 429
    assert codes.index(429) <= RATE_LIMIT  # the requests above (health polls included) count too

    # The first balancer dies: the second takes the virtual address (VRRP over unicast between the two).
    net.kill(lb_1)
    eventually(lambda: vip in lb_2.sh("ip -4 addr show dev eth0"), "lb-2 takes the virtual address")
    assert vip not in lb_2.sh("ip -4 addr show dev lo")
