"""Where a database is and how to log in, without ever holding a password in a plan, argv or a report.

An endpoint is given as
- `env:NAME`: the DSN is in environment variable NAME (it may carry a password: the environment is not
  a plan, a log or argv);
- a DSN without password, `postgresql://user@host:port/db?sslmode=verify-full&ssh=user@bastion:22`
  (or libpq `key=value` form); the password comes from a pgpass file ($PGPASSFILE or ~/.pgpass);
- an `Endpoint` of a plan (dsn_env or host/port/dbname/user plus options).

Non-libpq options in a DSN: `ssh` (bastion `user@host[:port]`), `ssh_key`, `ssh_known_hosts`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
from opcloud.migrate.databases.plan import Endpoint
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from opcloud.errors import ConnectionFailed, InputError

_SSH_KEYS = ("ssh", "ssh_key", "ssh_known_hosts")
# libpq keys that never belong in a conninfo we print, store or pass on a command line.
_SECRET_KEYS = ("password",)


@dataclass
class DbEndpoint:
    """A resolved endpoint: libpq parameters (no password), the password kept apart, optional bastion."""

    params: dict[str, str]
    password: str | None = field(default=None, repr=False)
    ssh: str | None = None
    ssh_key: str | None = None
    ssh_known_hosts: str | None = None
    # Where the tunnel (if any) listens; set by `open_tunnel`.
    local_port: int | None = None

    @property
    def host(self) -> str:
        return self.params.get("host") or "localhost"

    @property
    def port(self) -> int:
        return int(self.params.get("port") or 5432)

    @property
    def dbname(self) -> str:
        return self.params.get("dbname") or self.user

    @property
    def user(self) -> str:
        return self.params.get("user") or os.environ.get("PGUSER") or os.environ.get("USER", "postgres")

    @property
    def display(self) -> str:
        """The redacted form shown in output, logs, state and reports."""
        via = f" via {self.ssh}" if self.ssh else ""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}{via}"

    @property
    def identity(self) -> str:
        """Stable key for state files: where the database is, not how we reach it."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def libpq_params(self, dbname: str | None = None) -> dict[str, Any]:
        """Parameters for a connection from this process (through the tunnel when there is one)."""
        params: dict[str, Any] = dict(self.params)
        if dbname:
            params["dbname"] = dbname
        if self.local_port is not None:
            # `host` stays the real name so that verify-full checks the certificate against it.
            params["hostaddr"] = "127.0.0.1"
            params["port"] = str(self.local_port)
        params.setdefault("connect_timeout", "10")
        params.setdefault("application_name", "opcloud-migrate-db")
        return params

    def conninfo(self, dbname: str | None = None) -> str:
        """A conninfo string without the password, for pg_dump/psql `-d` (password via environment)."""
        return make_conninfo(**{k: str(v) for k, v in self.libpq_params(dbname).items()})

    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def server_conninfo(self, passfile: str | None = None) -> str:
        """Conninfo for another server to reach this one (a subscription): real host, and the password, or
        with `passfile` (a pgpass file on that other server's machine) no password at all."""
        params = {k: v for k, v in self.params.items() if k not in ("connect_timeout", "passfile")}
        if passfile is not None:
            params["passfile"] = passfile
        elif self.password is not None:
            params["password"] = self.password
        return make_conninfo(**params)

    def connect(self, dbname: str | None = None, autocommit: bool = True, **extra: Any) -> psycopg.Connection:
        try:
            return psycopg.connect(**self.libpq_params(dbname), password=self.password, autocommit=autocommit, **extra)
        except psycopg.OperationalError as error:
            raise ConnectionFailed(f"cannot connect to {self.display}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def parse(spec: str | Endpoint) -> DbEndpoint:
    """Resolve a command-line spec or a plan endpoint into a `DbEndpoint`."""
    if isinstance(spec, Endpoint):
        return _from_endpoint(spec)
    spec = spec.strip()
    if spec.startswith("env:"):
        name = spec[4:]
        value = os.environ.get(name)
        if not value:
            raise InputError(f"environment variable {name} is not set (it should hold the DSN)")
        return _from_conninfo(value, allow_password=True, origin=f"env:{name}")
    return _from_conninfo(spec, allow_password=False, origin="the command line")


def _from_conninfo(text: str, *, allow_password: bool, origin: str) -> DbEndpoint:
    ssh: dict[str, str] = {}
    # libpq rejects unknown URI parameters: take ours out first.
    if "?" in text and text.startswith(("postgresql://", "postgres://")):
        base, _, query = text.partition("?")
        kept = []
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key in _SSH_KEYS:
                ssh[key] = unquote(value)
            elif part:
                kept.append(part)
        text = base + ("?" + "&".join(kept) if kept else "")
    try:
        params = conninfo_to_dict(text)
    except psycopg.ProgrammingError as error:
        # The message may quote the DSN: do not repeat it.
        raise InputError(f"malformed DSN from {origin}: {_first_line(error).split(':')[0]}") from None
    for key in _SSH_KEYS:
        if key in params:
            ssh[key] = str(params.pop(key))
    password = params.pop("password", None)
    if password is not None and not allow_password:
        raise InputError(
            f"a password in the DSN from {origin} is refused: put it in a pgpass file (PGPASSFILE) "
            "or pass the DSN as env:VARIABLE"
        )
    clean = {k: str(v) for k, v in params.items() if v is not None}
    if "sslrootcert" in clean and "sslmode" not in clean:
        clean["sslmode"] = "verify-full"
    endpoint = DbEndpoint(
        params=clean,
        password=str(password) if password is not None else None,
        ssh=ssh.get("ssh"),
        ssh_key=ssh.get("ssh_key"),
        ssh_known_hosts=ssh.get("ssh_known_hosts"),
    )
    _check_ssh(endpoint.ssh)
    if endpoint.password is None:
        endpoint.password = pgpass_lookup(endpoint, clean.get("passfile"))
    return endpoint


def _from_endpoint(ep: Endpoint) -> DbEndpoint:
    if ep.dsn_env:
        base = parse(f"env:{ep.dsn_env}")
    else:
        params = {"host": ep.host, "port": str(ep.port) if ep.port else None, "dbname": ep.dbname, "user": ep.user}
        base = DbEndpoint(params={k: v for k, v in params.items() if v})
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"):
        value = getattr(ep, key)
        if value:
            base.params[key] = value
    if ep.sslrootcert and not ep.sslmode:
        base.params["sslmode"] = "verify-full"
    base.ssh = ep.ssh or base.ssh
    base.ssh_key = ep.ssh_key or base.ssh_key
    base.ssh_known_hosts = ep.known_hosts or base.ssh_known_hosts
    _check_ssh(base.ssh)
    if base.password is None:
        base.password = pgpass_lookup(base, ep.passfile)
    return base


def _check_ssh(value: str | None) -> None:
    if value is not None and ("@" not in value or value.startswith("@")):
        raise InputError(f"ssh bastion must be user@host[:port], got {value!r}")


def pgpass_lookup(endpoint: DbEndpoint, passfile: str | None = None) -> str | None:
    """The password for the endpoint's real host/port/db/user from a pgpass file (libpq's rules).

    We look it up ourselves because through a tunnel libpq would match 127.0.0.1 instead of the real host.
    """
    path = Path(passfile or os.environ.get("PGPASSFILE") or Path.home() / ".pgpass").expanduser()
    if not path.is_file():
        return None
    wanted = [endpoint.host, str(endpoint.port), endpoint.dbname, endpoint.user]
    if endpoint.host.startswith("/") or endpoint.host == "":
        wanted[0] = "localhost"
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        fields = _split_pgpass(line)
        if len(fields) != 5:
            continue
        if all(f == "*" or f == w for f, w in zip(fields[:4], wanted, strict=True)):
            return fields[4]
    return None


def _split_pgpass(line: str) -> list[str]:
    fields: list[str] = []
    current, escaped = "", False
    for char in line:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":" and len(fields) < 4:
            fields.append(current)
            current = ""
        else:
            current += char
    fields.append(current)
    return fields


def redact(text: str, *endpoints: DbEndpoint) -> str:
    """Remove every known password from a message before it is shown."""
    for endpoint in endpoints:
        if endpoint.password:
            text = text.replace(endpoint.password, "********")
    return text
