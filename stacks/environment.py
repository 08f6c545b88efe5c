"""The typed model of one deployment, validated before any resource is declared.

An environment is a Pulumi stack config file, `environments/Pulumi.<stack>.yaml`. Its `opcloud:` keys
are the fields of `Environment`; provider keys (`aws:region`, `azure-native:location`) are checked to
agree with it. Every error names the file and the key, on one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from opcloud import residency
from opcloud.errors import InputError, ResidencyError

PROJECT = "opcloud"
ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"
SECRET_PLACEHOLDER = "[secret]"

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# Provider config keys we understand; any other provider namespace is passed through untouched.
PROVIDER_REGION_KEYS = {"aws": "aws:region", "azure": "azure-native:location"}


class _Model(BaseModel):
    """camelCase keys in the files, snake_case in Python, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Network(_Model):
    cidr: IPv4Network = Field(description="Address space of the platform network (a /16 to a /20).")
    zones: int = Field(3, ge=2, le=3, description="Availability zones the tiers spread over.")
    allowed_cidrs: list[IPv4Network] = Field(min_length=1, description="Who may reach the public entry (TLS).")
    admin_cidrs: list[IPv4Network] = Field(default_factory=list, description="Operators' networks (SSH, DB admin).")

    @field_validator("cidr")
    @classmethod
    def _size(cls, value: IPv4Network) -> IPv4Network:
        if not 16 <= value.prefixlen <= 20:
            raise ValueError(f"{value} must be between a /16 and a /20 to hold three tiers in {3} zones")
        if not value.is_private:
            raise ValueError(f"{value} is not a private address range")
        return value

    @field_validator("allowed_cidrs", "admin_cidrs")
    @classmethod
    def _no_world(cls, value: list[IPv4Network]) -> list[IPv4Network]:
        for cidr in value:
            if cidr.prefixlen == 0:
                raise ValueError("0.0.0.0/0 is not an allow-list: name the networks that may connect")
        return value


class HostGroup(_Model):
    size: str = Field(description="Instance type (AWS) or VM size (Azure) or flavour (IaaS).")
    min: int = Field(2, ge=1)
    max: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> HostGroup:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class AppTier(_Model):
    domain: str = Field(description="Public DNS name of the platform (TLS certificate subject).")
    certificate: str = Field(description="ACM certificate ARN or Key Vault certificate secret id.")
    api: HostGroup
    docs: HostGroup
    rate_limit: int = Field(2000, ge=100, description="Requests per 5 minutes per client IP before the WAF blocks.")


class Database(_Model):
    engine_version: Literal["13", "14", "15", "16", "17"] = "15"
    size: str = Field(description="Instance class (AWS db.*) or SKU (Azure) of the PostgreSQL server.")
    storage_gb: int = Field(ge=20, le=16384)
    name: str = Field("procurement", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    high_availability: bool = True
    deletion_protection: bool = True


class Backup(_Model):
    full_weekday: Weekday = Field("sunday", description="Day of the weekly full backup.")
    start_time: time = Field(time(1, 0), description="UTC time the full and differential backups start.")
    log_interval_minutes: int = Field(5, ge=5, le=10, description="Transaction log backups, every 5 to 10 minutes.")
    retention_days: int = Field(35, ge=7, le=3650)
    copy_region: str | None = Field(None, description="Second region (or site) holding the backup copy.")
    geo_redundancy: Literal["region", "zones"] = Field(
        "region", description="'zones' only where the jurisdiction has a single region on this cloud."
    )


class DocumentStorage(_Model):
    infrequent_after_days: int = Field(30, ge=30)
    archive_after_days: int = Field(180, ge=90)
    noncurrent_retention_days: int = Field(365, ge=30)
    soft_delete_days: int = Field(30, ge=7, le=365)


class Audit(_Model):
    retention_days: int = Field(365, ge=90)


class AzureSettings(_Model):
    tenant_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    admin_group_object_id: str = Field(pattern=r"^[0-9a-f-]{36}$", description="Entra group administering the DB.")
    admin_group_name: str


class SshHost(_Model):
    """A VM of a VM-only cloud, reached over SSH (filled in by the IaaS inventory)."""

    name: str
    address: str
    roles: list[Literal["api", "docs", "db", "backup"]] = Field(min_length=1)
    user: str = "opcloud"
    port: int = Field(22, ge=1, le=65535)


class Inventory(_Model):
    """Hosts of a VM-only cloud; extended with volumes and bastions by the IaaS target."""

    hosts: list[SshHost] = Field(min_length=1)


class Environment(_Model):
    platform: str = Field(pattern=r"^[a-z][a-z0-9-]{1,30}$", description="Platform name, e.g. prozorro-sale.")
    environment: Literal["prod", "staging", "test", "qa", "dev"]
    jurisdiction: str = Field(description="ISO country code or union (EU) the data must stay in.")
    cloud: Literal["aws", "azure", "iaas"]
    region: str = Field(description="Cloud region, or site of a VM-only cloud.")
    network: Network
    app: AppTier
    database: Database
    backup: Backup
    storage: DocumentStorage = DocumentStorage()
    audit: Audit = Audit()
    tags: dict[str, str] = Field(default_factory=dict)
    azure: AzureSettings | None = None
    inventory: Inventory | None = None

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdiction(cls, value: str) -> str:
        if not residency.is_known_jurisdiction(value):
            raise ValueError(f"unknown jurisdiction {value!r}: use an ISO country code or EU")
        return value

    @field_validator("tags")
    @classmethod
    def _owner_tag(cls, value: dict[str, str]) -> dict[str, str]:
        if not value.get("owner"):
            raise ValueError("an 'owner' tag is required (who answers for this stack)")
        return value

    @model_validator(mode="after")
    def _placement(self) -> Environment:
        region_country = residency.country_of(self.cloud, self.region)
        if not residency.within(self.jurisdiction, region_country):
            raise ResidencyError(
                f"region {self.region} lies in {region_country}, outside jurisdiction {self.jurisdiction}"
            )
        copy_region = self.backup.copy_region
        if self.backup.geo_redundancy == "zones":
            others = [r for r in residency.regions_within(self.cloud, self.jurisdiction) if r != self.region]
            if others:
                raise ValueError(
                    f"backup.geoRedundancy 'zones' is only for a jurisdiction with one region; use copyRegion "
                    f"(one of {', '.join(others)})"
                )
            if copy_region is not None:
                raise ValueError("backup.copyRegion and geoRedundancy 'zones' exclude each other")
        elif copy_region is None:
            raise ValueError("backup.copyRegion is required: a second region (or site) for the backup copy")
        else:
            copy_country = residency.country_of(self.cloud, copy_region)
            if not residency.within(self.jurisdiction, copy_country):
                raise ResidencyError(
                    f"backup.copyRegion {copy_region} lies in {copy_country}, outside jurisdiction {self.jurisdiction}"
                )
            if copy_region == self.region:
                raise ValueError("backup.copyRegion must differ from the primary region")
        if self.cloud == "azure" and self.azure is None:
            raise ValueError("opcloud:azure (tenantId, adminGroupObjectId, adminGroupName) is required on Azure")
        if self.cloud == "iaas" and self.inventory is None:
            raise ValueError("opcloud:inventory (hosts and volumes) is required on an IaaS cloud")
        return self

    @property
    def stack_prefix(self) -> str:
        return f"{self.platform}-{self.environment}"

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    def standard_tags(self) -> dict[str, str]:
        """Tags on every resource: who owns it, where its data may live, what manages it."""
        return {
            **self.tags,
            "platform": self.platform,
            "environment": self.environment,
            "jurisdiction": self.jurisdiction,
            "managed-by": "opcloud",
        }


# ---------------------------------------------------------------------------------------------- loading


def _key_path(loc: tuple[Any, ...]) -> str:
    head, *rest = loc
    path = f"{PROJECT}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _decode(value: Any) -> Any:
    """Pulumi passes structured config as JSON strings; files hold them as YAML objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def from_config(config: Mapping[str, Any], source: str) -> Environment:
    """Validate a stack's config map (`project:key` -> value) into an `Environment`.

    `source` names where the config came from (a file path) for the error line.
    """
    fields: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT and name != "program":
            fields[name] = _decode(value)
    try:
        environment = Environment.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = _key_path(first["loc"]) if first["loc"] else f"{PROJECT}:"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        elif first["type"] == "missing":
            message = "missing value"
        raise InputError(f"{source}: {where}: {message}") from None
    except (InputError, ValueError) as error:
        raise type(error)(f"{source}: {error}") from None
    _check_provider_region(environment, config, source)
    return environment


def _check_provider_region(environment: Environment, config: Mapping[str, Any], source: str) -> None:
    key = PROVIDER_REGION_KEYS.get(environment.cloud)
    if key and key in config and _decode(config[key]) != environment.region:
        raise InputError(f"{source}: {key}: {config[key]!r} disagrees with {PROJECT}:region {environment.region!r}")


def stack_file(stack: str) -> Path:
    return ENVIRONMENTS_DIR / f"Pulumi.{stack}.yaml"


def resolve(env: str) -> tuple[str, Path]:
    """ENV is a stack name from environments/ or a path to a `Pulumi.<stack>.yaml` file."""
    candidate = Path(env)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        if not candidate.is_file():
            raise InputError(f"{env}: no such environment file")
        name = candidate.name
        if not (name.startswith("Pulumi.") and name.count(".") >= 2):
            raise InputError(f"{env}: an environment file is named Pulumi.<stack>.yaml")
        return name[len("Pulumi.") : name.rindex(".")], candidate
    path = stack_file(env)
    if not path.is_file():
        known = ", ".join(list_stacks()) or "none"
        raise InputError(f"unknown stack {env!r}: known stacks are {known}")
    return env, path


def read_config_file(path: Path) -> tuple[dict[str, Any], set[str]]:
    """The `config:` map of a stack file and the keys holding secrets (`secure:` values)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}:{where}: malformed YAML ({getattr(error, 'problem', error)})") from None
    except OSError as error:
        raise InputError(f"{path}: {error.strerror}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise InputError(f"{path}: expected a mapping with a 'config:' section")
    unknown_sections = set(document) - {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}
    if unknown_sections:
        raise InputError(f"{path}: unknown top-level key {sorted(unknown_sections)[0]!r}")
    config: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if ":" not in str(key):
            raise InputError(f"{path}: {key}: config keys are namespaced, e.g. {PROJECT}:{key}")
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(key)
            value = SECRET_PLACEHOLDER
        config[key] = value
    return config, secret_keys


@dataclass(frozen=True)
class StackFile:
    """One environment file, read but not yet validated: each program validates its own config."""

    stack: str
    path: Path
    config: dict[str, Any]
    secret_keys: frozenset[str]

    @property
    def program(self) -> str:
        return str(self.config.get(f"{PROJECT}:program", "platform"))


def open_stack(env: str) -> StackFile:
    """Resolve ENV (stack name or file path) and read its config."""
    stack, path = resolve(env)
    config, secret_keys = read_config_file(path)
    return StackFile(stack, path, config, frozenset(secret_keys))


def list_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ENVIRONMENTS_DIR.glob("Pulumi.*.yaml"))
