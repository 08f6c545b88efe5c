"""The `databases:` entries of a migration plan: one typed pair per database to move.

A plan never holds a password. An endpoint names its DSN by reference: an environment variable
(`dsn_env: PROZORRO_RDS_DSN`) or host/port/dbname/user whose password comes from a pgpass file
(`passfile:`, else $PGPASSFILE, else ~/.pgpass). Where the database lies (cloud + region, or a country)
is declared on the endpoint so that a plan's jurisdiction can refuse a target outside it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opcloud import clouds

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SSH = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.\-\[\]:]+?(:\d+)?$")


class Endpoint(BaseModel):
    """One end of a database pair: how to reach it (by reference) and where it lies."""

    model_config = ConfigDict(extra="forbid")

    dsn_env: str | None = Field(None, description="environment variable holding the DSN (libpq URI or key=value)")
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    dbname: str | None = None
    user: str | None = None
    passfile: str | None = Field(None, description="pgpass file for the password; default $PGPASSFILE or ~/.pgpass")
    sslmode: SslMode | None = None
    sslrootcert: str | None = Field(None, description="CA file; with it the default sslmode becomes verify-full")
    sslcert: str | None = None
    sslkey: str | None = None
    ssh: str | None = Field(None, description="bastion as user@host[:port]; the database host is reached through it")
    ssh_key: str | None = Field(None, description="private key for the bastion; default the SSH agent / ~/.ssh keys")
    known_hosts: str | None = Field(None, description="known_hosts file checked for the bastion; default ~/.ssh")
    cloud: str | None = Field(None, description="a cloud of opcloud/clouds.py (aws, azure, iaas, ...)")
    region: str | None = Field(None, description="region or site of `cloud` (see opcloud/residency.py)")
    country: str | None = Field(None, description="ISO country code, for a database outside any known region")

    @field_validator("cloud")
    @classmethod
    def _registered_cloud(cls, value: str | None) -> str | None:
        if value is not None and value not in clouds.CLOUDS:
            raise ValueError(f"unknown cloud {value!r}: known clouds are {', '.join(clouds.CLOUDS)}")
        return value

    @field_validator("dsn_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"dsn_env must be an environment variable name, not a DSN: {value[:20]!r}...")
        return value

    @field_validator("ssh")
    @classmethod
    def _ssh_form(cls, value: str | None) -> str | None:
        if value is not None and not _SSH.match(value):
            raise ValueError(f"ssh must be user@bastion[:port], got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_way_to_reach(self) -> Endpoint:
        if self.dsn_env is None and self.host is None:
            raise ValueError("give either dsn_env (an environment variable name) or host/port/dbname/user")
        if (self.cloud is None) != (self.region is None):
            raise ValueError("cloud and region go together")
        return self


class DatabasePair(BaseModel):
    """A database to move: source and target endpoints and how to copy."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    source: Endpoint
    target: Endpoint
    online: bool = Field(False, description="follow changes by logical replication until `cutover`")
    jobs: int = Field(4, ge=1, le=64, description="parallel COPY streams and index builds")
    split_rows: int = Field(1_000_000, ge=1000, description="tables with more (estimated) rows are copied in ranges")
    verify: bool = Field(True, description="verify row counts and ordered row hashes at the end of the copy")
