"""Both databases reached through an SSH bastion (the real sshd fixture), host key checked."""

from __future__ import annotations

import json
from urllib.parse import quote

from typer.testing import CliRunner

from opcloud.cli import app
from tests.servers.postgres import PgPair


def _via(dsn: str, sshd, known_hosts) -> str:
    key, known = quote(str(sshd.client_key)), quote(str(known_hosts))
    return f"{dsn}?ssh={quote(sshd.target)}&ssh_key={key}&ssh_known_hosts={known}"


def test_copy_and_verify_through_bastion(source_db: PgPair, sshd, tmp_path) -> None:
    pair = source_db
    log = sshd.client_key.parent / "sshd.log"
    logins_before = log.read_text().count("Accepted publickey")
    src, dst = _via(pair.source_dsn, sshd, sshd.known_hosts), _via(pair.target_dsn, sshd, sshd.known_hosts)
    runner = CliRunner()
    result = runner.invoke(
        app, ["migrate", "db", "copy", src, dst, "--jobs", "2", "--state-dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["source"].endswith(f"via {sshd.target}")
    assert log.read_text().count("Accepted publickey") >= logins_before + 2  # one session per end
    verified = runner.invoke(app, ["migrate", "db", "verify", src, dst])
    assert verified.exit_code == 0, verified.output
    with pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM app.tenders").fetchone()[0] == 8000


def test_unknown_bastion_host_key_is_refused(source_db: PgPair, sshd, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    src = _via(source_db.source_dsn, sshd, empty)
    result = CliRunner().invoke(app, ["migrate", "db", "verify", src, source_db.target_dsn])
    assert result.exit_code == 2
    assert "ssh bastion" in result.stderr and "not found in known_hosts" in result.stderr
