"""Endpoint parsing: no inline passwords, pgpass by the real host, TLS defaults, bastion options."""

from __future__ import annotations

import pytest
from opcloud.migrate.databases import dsn
from opcloud.migrate.databases.plan import Endpoint

from opcloud.errors import InputError


def test_pgpass_is_matched_on_the_real_host_with_escapes(tmp_path, monkeypatch) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text("# comment\nother:5432:*:*:nope\ndb.internal:6432:prozorro:app:pa\\:ss\\\\word\n")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    endpoint = dsn.parse("postgresql://app@db.internal:6432/prozorro?ssh=ops@bastion.example:2222")
    assert endpoint.password == "pa:ss\\word"
    assert endpoint.ssh == "ops@bastion.example:2222"
    endpoint.local_port = 40000  # as when a tunnel is open: libpq goes to loopback, TLS checks the real name
    params = endpoint.libpq_params()
    assert params["hostaddr"] == "127.0.0.1" and params["port"] == "40000" and params["host"] == "db.internal"
    assert "password" not in endpoint.conninfo() and "pa:ss" not in endpoint.display


def test_root_certificate_means_verify_full(monkeypatch) -> None:
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    endpoint = dsn.parse("postgresql://app@rds.example/prozorro?sslrootcert=/etc/ssl/rds-ca.pem")
    assert endpoint.params["sslmode"] == "verify-full"
    plan_ep = dsn.parse(Endpoint(host="pg.denovo", dbname="p", user="u", sslrootcert="/ca.pem"))
    assert plan_ep.params["sslmode"] == "verify-full" and plan_ep.params["sslrootcert"] == "/ca.pem"
    explicit = dsn.parse("host=h dbname=d user=u sslmode=require sslrootcert=/ca.pem")
    assert explicit.params["sslmode"] == "require"


def test_environment_dsn_may_hold_the_password_but_never_shows_it(monkeypatch) -> None:
    monkeypatch.setenv("SRC_DSN", "postgresql://app:hunter2@rds.example:5432/prozorro")
    endpoint = dsn.parse("env:SRC_DSN")
    assert endpoint.password == "hunter2"
    assert "hunter2" not in endpoint.display + endpoint.conninfo() + repr(endpoint)
    assert dsn.redact("failed for hunter2", endpoint) == "failed for ********"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("postgresql://app:pw@h/db", "password in the DSN"),
        ("env:SURELY_NOT_SET_DSN", "SURELY_NOT_SET_DSN is not set"),
        ("postgresql://app@h/db?ssh=bastion-without-user", "user@host"),
    ],
)
def test_bad_endpoints(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        dsn.parse(spec)
