"""`opcloud hosts` against hosts that do not answer: every probe at once with a connect timeout, one line per
cause, no paramiko tracebacks, exit 2 for a missing key, and --host narrowing everything it probes. No VM needed:
the hosts are a local listener that accepts connections and never speaks."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.servers.process import keygen

ENTRY = [sys.executable, "-c", "from opcloud.cli import main; main()"]
KEY_ENV = "OPCLOUD_TEST_SILENT_SSH_KEY"
HOSTS = ("api-1", "api-2", "docs-1", "db-1")


class SilentListener:
    """Accepts TCP connections and never answers; remembers how many were open at the same time."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.open = 0
        self.most_open = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.most_open = max(self.most_open, self.open)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            while connection.recv(4096):
                pass  # read and ignore whatever the client sends, answer nothing
        with self._lock:
            self.open -= 1


@pytest.fixture()
def listener() -> Iterator[SilentListener]:
    silent = SilentListener()
    yield silent
    silent.socket.close()


def _environment(tmp_path: Path, port: int) -> Path:
    keygen(tmp_path / "id")  # a real key: the hosts, not the key, are what fails here
    key = tmp_path / "id"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    roles = {"api-1": ["api"], "api-2": ["api"], "docs-1": ["docs"], "db-1": ["db", "backup"]}
    config = {
        "opcloud:platform": "prozorro",
        "opcloud:environment": "test",
        "opcloud:jurisdiction": "UA",
        "opcloud:cloud": "iaas",
        "opcloud:region": "denovo-kyiv-1",
        "opcloud:network": {"cidr": "127.0.0.0/16", "zones": 2, "allowedCidrs": ["198.51.100.0/24"],
                            "adminCidrs": ["192.0.2.0/28"]},
        "opcloud:app": {"domain": "api.test.invalid", "certificate": "/etc/ssl/opcloud/test.pem",
                        "api": {"size": "vm", "min": 1, "max": 2}, "docs": {"size": "vm", "min": 1, "max": 1}},
        "opcloud:database": {"size": "vm", "storageGb": 20},
        "opcloud:backup": {"copyRegion": "denovo-kyiv-2", "retentionDays": 14},
        "opcloud:inventory": {
            "sshKey": {"env": KEY_ENV},
            "knownHosts": str(known_hosts),
            "logServer": "logs.test.invalid:6514",
            "hosts": [{"name": name, "roles": roles[name], "address": "127.0.0.1", "port": port} for name in HOSTS],
            "iscsi": [{"name": "pgdata", "host": "db-1", "portal": f"127.0.0.1:{port}",
                       "target": "iqn.2024-01.test.opcloud:pgdata", "lun": 1,
                       "chap": {"username": "opcloud-test", "password": {"file": str(key)}},
                       "luksKey": {"file": str(key)}, "mount": "/srv/pgdata"}],
            "nfs": [{"name": "documents", "server": "127.0.0.1", "port": port, "export": "/documents",
                     "site": "denovo-kyiv-1", "purpose": "documents", "mount": "/srv/documents",
                     "hosts": ["docs-1"]},
                    {"name": "backups", "server": "127.0.0.2", "port": port, "export": "/backups",
                     "site": "denovo-kyiv-2", "purpose": "backup", "mount": "/srv/pgbackrest",
                     "hosts": ["db-1"]}],
        },
        "opcloud:tags": {"owner": "opcloud-tests"},
    }
    path = tmp_path / "Pulumi.silent-test.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def _opcloud(*argv: str, key: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    if key is not None:
        env[KEY_ENV] = key.read_text()
    return subprocess.run([*ENTRY, *argv], capture_output=True, text=True, timeout=300, env=env)


def test_preflight_probes_every_host_at_once_and_names_the_cause(tmp_path: Path, listener: SilentListener) -> None:
    env = _environment(tmp_path, listener.port)
    done = _opcloud("hosts", "preflight", str(env), "--json", "--timeout", "1", key=tmp_path / "id")
    assert done.returncode == 1, done.stderr
    probes = {(p["kind"], p["name"].split(" ")[0]): p for p in json.loads(done.stdout)["probes"]}
    ssh = [probes["ssh", name] for name in HOSTS]
    assert all(not p["ok"] and "no SSH handshake within 1s" in p["detail"] for p in ssh), ssh
    assert not probes["iscsi", "pgdata"]["ok"] and not probes["nfs", "documents"]["ok"]
    # four hosts waited on together, not one after another
    assert listener.most_open >= len(HOSTS)
    assert "Traceback" not in done.stderr and "No existing session" not in done.stdout + done.stderr


def test_host_narrows_everything_preflight_probes(tmp_path: Path, listener: SilentListener) -> None:
    env = _environment(tmp_path, listener.port)
    done = _opcloud("hosts", "preflight", str(env), "--json", "--timeout", "1", "--host", "api-1", key=tmp_path / "id")
    assert done.returncode == 1, done.stderr
    assert [(p["kind"], p["name"]) for p in json.loads(done.stdout)["probes"]] == [("ssh", "api-1")]
    done = _opcloud("hosts", "preflight", str(env), "--timeout", "1", "--host", "db-1", "--json", key=tmp_path / "id")
    probed = {(p["kind"], p["name"].split(" ")[0]) for p in json.loads(done.stdout)["probes"]}
    assert probed == {("ssh", "db-1"), ("iscsi", "pgdata"), ("nfs", "backups")}


@pytest.mark.parametrize("command", ["preflight", "check", "apply"])
def test_a_missing_ssh_key_is_one_input_error(tmp_path: Path, listener: SilentListener, command: str) -> None:
    env = _environment(tmp_path, listener.port)
    done = _opcloud("hosts", command, str(env), "--timeout", "1", key=None)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and KEY_ENV in lines[0] and lines[0].startswith("error:")
    assert listener.most_open == 0  # nothing was contacted


def test_unknown_host_is_refused_by_preflight_too(tmp_path: Path, listener: SilentListener) -> None:
    env = _environment(tmp_path, listener.port)
    done = _opcloud("hosts", "preflight", str(env), "--host", "api-9", key=tmp_path / "id")
    assert done.returncode == 2 and "unknown host 'api-9'" in done.stderr
    assert listener.most_open == 0


def test_check_reports_each_host_once_per_step_in_inventory_order(tmp_path: Path, listener: SilentListener) -> None:
    env = _environment(tmp_path, listener.port)
    done = _opcloud("hosts", "check", str(env), "--json", "--timeout", "1", key=tmp_path / "id")
    assert done.returncode == 1, done.stderr
    steps = json.loads(done.stdout)["steps"]
    hosts_in_order = list(dict.fromkeys(step["host"] for step in steps))
    assert hosts_in_order == list(HOSTS)
    assert all(s["status"] == "failed" and "no SSH handshake within 1s" in s["detail"] for s in steps)
    assert listener.most_open >= len(HOSTS)
    assert "Traceback" not in done.stderr
