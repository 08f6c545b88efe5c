"""Migration plan files: several bucket and database pairs, the jurisdiction, the state directory, concurrency.

```yaml
name: prozorro-ua-aws-to-denovo
jurisdiction: UA            # every target must lie here; checked before a byte is copied
state_dir: /var/lib/opcloud/prozorro   # optional; relative to the plan file; default: the state home
transfers: 16
read_back: false            # true: read back every copied object, even those the target checked in transit
check_metadata: false       # true: a HEAD per unchanged object on both sides (trees show no metadata change)
state_database: postgresql://opcloud@state.internal/opcloud  # optional: needed by a sharded run
shard_size: 100000          # objects per shard of `run --workers N` / `--scheduler ADDRESS`
buckets:
  - name: documents
    source: s3://prozorro-docs/?region=eu-central-1
    target: s3://prozorro-docs/?endpoint=https://s3.kyiv.denovo.ua
databases: []               # see migrate/databases/plan.py
```
"""

from __future__ import annotations

from pathlib import Path

import yaml
from opcloud.migrate.databases.plan import DatabasePair
from opcloud.migrate.sizes import parse_size
from opcloud.migrate.stores.url import parse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opcloud.errors import InputError
from opcloud.paths import state_home


class BucketPair(BaseModel):
    """One bucket/container/tree to copy."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    source: str
    target: str
    include: list[str] = Field(default_factory=list, description="glob patterns of keys to copy (default all)")
    exclude: list[str] = Field(default_factory=list, description="glob patterns of keys to leave out")
    delete: bool = Field(False, description="delete target objects that are not in the source")
    part_size: str = Field("8M", description="objects larger than this are sent in resumable parts")

    @field_validator("source", "target")
    @classmethod
    def _url(cls, value: str) -> str:
        parse(value)  # raises InputError, turned into a one-line plan error by load_plan
        return value

    @field_validator("part_size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)
        return value


LEGACY_STATE_DIR = Path(".opcloud-state")


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    jurisdiction: str | None = Field(None, description="ISO country code or EU: every target must lie inside")
    state_dir: Path | None = Field(
        None, description="state databases, relative to the plan file (default: the state home, as every command)"
    )
    transfers: int = Field(8, ge=1, le=256)
    bwlimit: str | None = Field(None, description="bytes per second for all transfers, e.g. 50M")
    memory: str = Field("128M", description="bound on the part buffers held at once")
    read_back: bool = Field(False, description="read back every copied object, even those checked in transit")
    check_metadata: bool = Field(False, description="compare properties of unchanged objects by a HEAD each side")
    state_database: str | None = Field(
        None, description="postgresql://USER@HOST[:PORT]/DB: the state of record of every bucket pair, shared by "
        "the workers of a sharded run (--workers / --scheduler); the password from PGPASSWORD or a pgpass file",
    )  # fmt: skip
    state_database_country: str | None = Field(
        None, pattern=r"^[A-Za-z]{2}$", description="where the state database lies, when its host does not tell: "
        "it holds every key, so a plan with a jurisdiction keeps it inside too",
    )  # fmt: skip
    shard_size: int = Field(100_000, ge=1, description="objects per shard of a sharded run, about")
    buckets: list[BucketPair] = Field(default_factory=list)
    databases: list[DatabasePair] = Field(default_factory=list)

    @field_validator("state_database")
    @classmethod
    def _state_database(cls, value: str | None) -> str | None:
        if value is not None:
            from opcloud.migrate.buckets.pgstate import check_url

            check_url(value)
        return value

    @field_validator("bwlimit", "memory")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)
        return value


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "plan"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}"


def load_plan(path: Path) -> Plan:
    """Read and validate a plan; every mistake is one InputError naming the file and the key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"plan file {path} not found") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}{where}: malformed YAML ({getattr(error, 'problem', 'syntax error')})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a plan is a mapping with name, jurisdiction, state_dir, buckets, databases")
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as error:
        raise InputError(f"{path}: {_first_error(error)}") from None
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    names = [pair.name for pair in plan.buckets] + [pair.name for pair in plan.databases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"{path}: pair names must be unique, repeated: {', '.join(duplicates)}")
    if plan.state_dir is None:
        legacy = path.parent / LEGACY_STATE_DIR  # an earlier version's default: a copy in flight keeps its state
        plan.state_dir = legacy.resolve() if legacy.is_dir() else state_home()
    elif not plan.state_dir.is_absolute():
        plan.state_dir = (path.parent / plan.state_dir).resolve()
    return plan
