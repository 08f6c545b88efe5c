"""The typed model of one deployment, validated before any resource is declared.

An environment is a Pulumi stack config file, `environments/Pulumi.<stack>.yaml`. Its `opcloud:` keys
are the fields of `Environment`; provider keys (`aws:region`, `azure-native:location`) are checked to
agree with it. Every error names the file and the key, on one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from opcloud import allowlists, clouds, residency
from opcloud.config import keys as config_keys
from opcloud.config.project import find_project
from opcloud.errors import InputError, InputErrors, ResidencyError

PROJECT = "opcloud"
SECRET_PLACEHOLDER = "[secret]"
ModelT = TypeVar("ModelT", bound="BaseModel")

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# Provider config keys we understand; any other provider namespace is passed through untouched.


class KeyedError(ValueError):
    """A model-level error about one key (`backup.copyRegion`, relative to the model raising it)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _registered_cloud(name: str) -> str:
    if name not in clouds.CLOUDS:
        raise ValueError(f"unknown cloud {name!r}: known clouds are {', '.join(clouds.CLOUDS)}")
    return name


def _not_the_world(cidr: IPv4Network) -> IPv4Network:
    if cidr.prefixlen == 0:
        raise ValueError("0.0.0.0/0 is not an allow-list: name the networks that may connect")
    return cidr


# A network allowed to connect: any IPv4 network but the whole Internet.
AllowedNetwork = Annotated[IPv4Network, AfterValidator(_not_the_world)]


def _known_jurisdiction(value: str) -> str:
    if not residency.is_known_jurisdiction(value):
        raise ValueError(f"unknown jurisdiction {value!r}: use an ISO country code or EU")
    return value


# Where data must stay: an ISO country code or a union (EU).
Jurisdiction = Annotated[str, AfterValidator(_known_jurisdiction)]


class ConfigModel(BaseModel):
    """camelCase keys in the files, snake_case in Python, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class PublicAddressLimits(ConfigModel):
    """Public addresses an allow-list may open per port class; strict defaults, hard ceilings."""

    admin: int = Field(allowlists.DEFAULT_LIMITS["admin"], ge=0, le=allowlists.CEILINGS["admin"])
    data: int = Field(allowlists.DEFAULT_LIMITS["data"], ge=0, le=allowlists.CEILINGS["data"])
    web: int = Field(allowlists.DEFAULT_LIMITS["web"], ge=0, le=allowlists.CEILINGS["web"])

    def as_map(self) -> dict[str, int]:
        return {"admin": self.admin, "data": self.data, "web": self.web}


def check_allow_list(networks: list[IPv4Network], limit: int, key: str | None = None) -> None:
    """Refuse a list whose networks together open more public space than `limit` (0.0.0.0/1 + 128.0.0.0/1...)."""
    count = allowlists.public_addresses(str(n) for n in networks) or 0
    if count > limit:
        message = f"the networks admit {allowlists.describe(count)}, above the limit of {limit}"
        raise KeyedError(key, message) if key else ValueError(message)


def _default_limit(cls: allowlists.PortClass) -> AfterValidator:
    def check(networks: list[IPv4Network]) -> list[IPv4Network]:
        check_allow_list(networks, allowlists.DEFAULT_LIMITS[cls])
        return networks

    return AfterValidator(check)


# Allow-lists held to the default limits (a model without per-environment limits: the test stand).
EntryAllowList = Annotated[list[AllowedNetwork], _default_limit("web")]
AdminAllowList = Annotated[list[AllowedNetwork], _default_limit("admin")]


class Network(ConfigModel):
    cidr: IPv4Network = Field(description="Address space of the platform network (a /16 to a /20).")
    zones: int = Field(3, ge=2, le=3, description="Availability zones the tiers spread over.")
    allowed_cidrs: list[AllowedNetwork] = Field(min_length=1, description="Who may reach the public entry (TLS).")
    admin_cidrs: list[AllowedNetwork] = Field(default_factory=list, description="Operators' networks (SSH, DB admin).")
    public_address_limits: PublicAddressLimits = Field(
        default_factory=PublicAddressLimits, description="Public addresses allowed per port class."
    )

    @model_validator(mode="after")
    def _allow_lists(self) -> Network:
        limits = self.public_address_limits
        check_allow_list(self.allowed_cidrs, limits.web, "allowedCidrs")
        # Admin networks reach SSH and, on IaaS hosts, PostgreSQL: both limits hold.
        check_allow_list(self.admin_cidrs, min(limits.admin, limits.data), "adminCidrs")
        return self

    @field_validator("cidr")
    @classmethod
    def _size(cls, value: IPv4Network) -> IPv4Network:
        if not 16 <= value.prefixlen <= 20:
            raise ValueError(f"{value} must be between a /16 and a /20 to hold three tiers in {3} zones")
        if not value.is_private:
            raise ValueError(f"{value} is not a private address range")
        return value


class HostGroup(ConfigModel):
    size: str = Field(description="Instance type (AWS) or VM size (Azure) or flavour (IaaS).")
    min: int = Field(2, ge=1)
    max: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> HostGroup:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class AppTier(ConfigModel):
    domain: str = Field(description="Public DNS name of the platform (TLS certificate subject).")
    certificate: str = Field(description="ACM certificate ARN or Key Vault certificate secret id.")
    api: HostGroup
    docs: HostGroup
    rate_limit: int = Field(2000, ge=100, description="Requests per 5 minutes per client IP before the WAF blocks.")
    admin_ssh_public_key: str | None = Field(
        None,
        pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( .*)?$",
        description="Break-glass SSH public key for the hosts (Azure requires one on Linux VMs).",
    )
    release: Release | None = Field(None, description="The services' release, delivered to every api/docs host.")


# Azure SQL vCore SKUs whose tier offers zone redundancy (General Purpose, Business Critical): GP_Gen5_4.
AZURE_SQL_ZONED_SKU = re.compile(r"^(GP|BC)_[A-Za-z0-9]+_\d+$")


class ClassifiedColumn(ConfigModel):
    """A column of the Azure SQL schema with its sensitivity label (SQL data discovery and classification)."""

    schema_name: str = Field("dbo", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    label: Literal[
        "Public", "General", "Confidential", "Confidential - GDPR", "Highly Confidential", "Highly Confidential - GDPR"
    ]
    information_type: str = Field(min_length=1, max_length=64, description="e.g. Name, Contact Info, Financial.")


class Database(ConfigModel):
    engine: Literal["postgresql", "azuresql"] = Field(
        "postgresql", description="Azure: PostgreSQL Flexible Server, or Azure SQL Database (azuresql)."
    )
    engine_version: Literal["13", "14", "15", "16", "17"] = "15"
    size: str = Field(description="Instance class (AWS db.*) or SKU (Azure) of the database server.")
    storage_gb: int = Field(ge=20, le=16384)
    name: str = Field("procurement", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    high_availability: bool = True
    deletion_protection: bool = True
    weekly_retention_weeks: int = Field(
        12, ge=1, le=520, description="Azure SQL: weekly full backups kept as long-term retention."
    )
    classified_columns: list[ClassifiedColumn] = Field(
        default_factory=list, description="Azure SQL: columns labelled once the tables exist (after migrations)."
    )

    @model_validator(mode="after")
    def _azure_sql_sku(self) -> Database:
        if self.classified_columns and self.engine != "azuresql":
            raise KeyedError("classifiedColumns", "sensitivity labels are an Azure SQL feature (engine azuresql)")
        if self.engine == "azuresql" and not AZURE_SQL_ZONED_SKU.match(self.size):
            raise KeyedError(
                "size",
                f"{self.size!r}: Azure SQL needs a General Purpose or Business Critical vCore SKU "
                "(GP_Gen5_4, BC_Gen5_8), the tiers with zone redundancy",
            )
        return self


class Backup(ConfigModel):
    full_weekday: Weekday = Field("sunday", description="Day of the weekly full backup.")
    start_time: time = Field(time(1, 0), description="UTC time the full and differential backups start.")
    log_interval_minutes: int = Field(5, ge=5, le=10, description="Transaction log backups, every 5 to 10 minutes.")
    retention_days: int = Field(35, ge=7, le=3650)
    copy_region: str | None = Field(None, description="Second region (or site) holding the backup copy.")
    geo_redundancy: Literal["region", "zones"] = Field(
        "region", description="'zones' only where the jurisdiction has a single region on this cloud."
    )


class DocumentStorage(ConfigModel):
    infrequent_after_days: int = Field(30, ge=30)
    archive_after_days: int = Field(180, ge=90)
    noncurrent_retention_days: int = Field(365, ge=30)
    soft_delete_days: int = Field(30, ge=7, le=365)


DEBIAN_SECURITY_FEED = "https://security-tracker.debian.org/tracker/debsecan/release/1/"


class Audit(ConfigModel):
    retention_days: int = Field(365, ge=90)
    vulnerability_feed: str = Field(
        DEBIAN_SECURITY_FEED,
        # Shell-safe characters only: the URL is written into the scan script.
        pattern=r"^(https://|file:///)[A-Za-z0-9._~:/%@+-]+/$",
        description="IaaS: debsecan's feed (a directory URL ending in /), e.g. a mirror on the backup share.",
    )


class AzureSettings(ConfigModel):
    tenant_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    admin_group_object_id: str = Field(pattern=r"^[0-9a-f-]{36}$", description="Entra group administering the DB.")
    admin_group_name: str


class SecretRef(ConfigModel):
    """Where a secret is read at run time, never the secret itself: exactly one of env, file, config.

    `env` names an environment variable and `file` a path on the operator's machine; `config` names a Pulumi
    secret config key (`opcloud:...`, set with `pulumi config set --secret`). Inline values are refused.
    """

    env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    file: str | None = None
    config: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]*:[A-Za-z][A-Za-z0-9_.-]*$")

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if sum(v is not None for v in (self.env, self.file, self.config)) != 1:
            raise ValueError("a secret reference names exactly one of env, file or config (never the value)")
        return self

    def describe(self) -> str:
        """A printable name of the reference (safe to log: it is not the secret)."""
        if self.env:
            return f"env:{self.env}"
        if self.file:
            return f"file:{self.file}"
        return f"config:{self.config}"


# ------------------------------------------------------------------------------------------------ release

# Shell-safe names: they become environment variables, file names and directory names on the hosts.
SHELL_NAME = r"^[A-Z][A-Z0-9_]{0,62}$"
RESERVED_SECRET_NAMES = frozenset({"TLS_CERT", "TLS_KEY"})


class TlsMaterial(ConfigModel):
    """The certificate (chain) and private key the services serve, from the platform's secrets."""

    certificate: SecretRef
    key: SecretRef


class RoleRelease(ConfigModel):
    """One service's release: a tarball in the platform's own artifact store, pinned by its SHA-256."""

    artifact: str = Field(
        description="https:// or http:// URL in the platform's store inside the jurisdiction, or file:///path on "
        "the hosts (the IaaS NFS share)."
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
    command: str = Field(
        pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$",
        description="Executable inside the unpacked artifact, e.g. bin/api; started with --listen and --domain.",
    )
    health_path: str = Field("/health", pattern=r"^/[A-Za-z0-9._~/-]*$")
    settings: dict[str, str] = Field(default_factory=dict, description="Environment of the service (no secrets).")
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description="Secret name -> reference; the service reads $SECRETS_DIRECTORY/NAME."
    )

    @model_validator(mode="after")
    def _names(self) -> RoleRelease:
        for kind, names in (("setting", self.settings), ("secret", self.secrets)):
            for name in names:
                if not re.match(SHELL_NAME, name):
                    raise ValueError(f"{kind} {name!r}: names are upper-case shell names (A-Z, 0-9, _)")
        for name, value in self.settings.items():
            # One KEY=value line of a systemd EnvironmentFile: no quoting, escapes or line breaks to get wrong.
            if re.search(r'[\x00-\x1f"\'\\$`]', value):
                raise ValueError(f"setting {name!r}: quotes, backslashes, $ and control characters are refused")
        for name in self.secrets:
            if name in RESERVED_SECRET_NAMES:
                raise ValueError(f"secret {name!r}: the name is reserved for release.tls")
            if name in self.settings:
                raise ValueError(f"{name!r} is both a setting and a secret")
        if {".", ".."} & set(self.command.split("/")):
            raise ValueError(f"command {self.command!r}: a path inside the artifact, without . or ..")
        scheme = self.artifact.partition("://")[0]
        if scheme not in ("https", "http", "file"):
            raise ValueError(f"artifact {self.artifact!r}: use https://, http:// or file:///")
        return self


class Release(ConfigModel):
    """What the api and docs hosts run; `opcloud hosts apply` (IaaS) or cloud-init (AWS, Azure) delivers it."""

    api: RoleRelease
    docs: RoleRelease
    tls: TlsMaterial
    health_timeout_seconds: int = Field(
        60, ge=5, le=900, description="How long a new version may take to answer its health path before rollback."
    )

    def role(self, role: str) -> RoleRelease:
        return self.api if role == "api" else self.docs


HostRole = Literal["api", "docs", "db", "backup", "lb"]


class Bastion(ConfigModel):
    """A jump host: SSH to the hosts goes through a direct-tcpip channel it opens."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    address: str
    user: str = "opcloud"
    port: int = Field(22, ge=1, le=65535)
    key: SecretRef | None = Field(None, description="SSH private key; defaults to inventory.sshKey.")


class SshHost(ConfigModel):
    """A VM of a VM-only cloud, reached over SSH."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    address: IPv4Address
    roles: list[HostRole] = Field(min_length=1)
    user: str = "opcloud"
    port: int = Field(22, ge=1, le=65535)
    key: SecretRef | None = Field(None, description="SSH private key; defaults to inventory.sshKey.")
    bastion: str | None = Field(None, description="Name of a bastion in inventory.bastions.")


class Chap(ConfigModel):
    username: str
    password: SecretRef
    target_username: str | None = Field(None, description="Mutual CHAP: the name the target answers with.")
    target_password: SecretRef | None = Field(None, description="Mutual CHAP: the target's secret (a reference).")

    @model_validator(mode="after")
    def _mutual_pair(self) -> Chap:
        if (self.target_username is None) != (self.target_password is None):
            raise ValueError("mutual CHAP needs both targetUsername and targetPassword")
        return self


class IscsiVolume(ConfigModel):
    """A block volume presented over iSCSI to one host, LUKS-encrypted with a key kept off the VM."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    host: str
    portal: str = Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$", description="ip:port of the iSCSI portal.")
    target: str = Field(pattern=r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[A-Za-z0-9._:-]+)?$", description="Target IQN.")
    lun: int = Field(ge=0, le=16383)
    size_gb: int | None = Field(None, ge=1)
    chap: Chap = Field(description="CHAP credentials: no volume is attached without authentication.")
    luks_key: SecretRef
    filesystem: Literal["ext4", "xfs"] = "ext4"
    mount: str = Field(pattern=r"^/[A-Za-z0-9._/-]+$")
    purpose: Literal["database", "app"] = "database"


class NfsShare(ConfigModel):
    """An NFS export mounted on hosts: documents at the primary site, backups at the second site."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    server: IPv4Address
    port: int = Field(2049, ge=1, le=65535)
    export: str = Field(pattern=r"^/[A-Za-z0-9._/-]*$")
    site: str = Field(description="Site of the NFS server (IAAS_SITES).")
    purpose: Literal["documents", "backup"]
    mount: str = Field(pattern=r"^/[A-Za-z0-9._/-]+$")
    hosts: list[str] = Field(min_length=1, description="Hosts that mount the share.")
    sec: Literal["krb5i", "krb5p"] = Field(
        "krb5p", description="Kerberos privacy; krb5i (integrity only) needs secReason."
    )
    sec_reason: str | None = Field(None, min_length=10, description="Why this share cannot use krb5p.")
    backup_password: SecretRef | None = Field(
        None, description="Documents: password of the restic repository backing the share up (a reference)."
    )

    @model_validator(mode="after")
    def _documented_integrity_only(self) -> NfsShare:
        if self.sec == "krb5i" and self.sec_reason is None:
            raise KeyedError("secReason", "sec krb5i sends data unencrypted: document why in secReason")
        return self


class LoadBalancerPair(ConfigModel):
    """Two HAProxy hosts sharing a virtual address (keepalived, VRRP over unicast to the peer only): TLS for the
    platform's domain, health checks of every api/docs host, a per-client rate limit as the WAF rule's."""

    hosts: list[str] = Field(min_length=2, max_length=2, description="The two hosts with the role 'lb'.")
    virtual_address: IPv4Address = Field(description="The address clients reach (moves to the peer on failure).")
    virtual_router_id: int = Field(51, ge=1, le=255, description="VRRP router id, unique on the segment.")
    interface: str = Field("eth0", pattern=r"^[a-z][a-z0-9._-]{0,14}$", description="Interface carrying the VIP.")


class DatabaseCluster(ConfigModel):
    """A PostgreSQL primary and a streaming standby (TLS, SCRAM) under Patroni, with a three-member etcd (the two
    db hosts and a witness) deciding who leads: a primary that loses its leader key demotes itself (fencing)."""

    hosts: list[str] = Field(min_length=2, max_length=2, description="The two db hosts.")
    witness: str = Field(description="A third host running only an etcd member, so a single loss keeps quorum.")
    superuser_password: SecretRef
    replication_password: SecretRef
    ca_certificate: SecretRef = Field(
        description="The cluster CA (PEM), one per environment: etcd peers and clients (Patroni) present "
        "certificates it signed, and accept no other."
    )
    ca_key: SecretRef = Field(description="The cluster CA's private key (PEM): signs each member's certificate.")
    synchronous: bool = Field(True, description="A commit returns once the standby has it: failover loses none.")
    ttl_seconds: int = Field(30, ge=9, le=300, description="How long a silent leader keeps its key.")


class Inventory(ConfigModel):
    """Hosts of a VM-only cloud: how to reach them, their roles, the volumes presented to them."""

    ssh_key: SecretRef | None = Field(None, description="SSH key of every host without its own.")
    known_hosts: str = Field("~/.ssh/known_hosts", description="known_hosts verifying hosts and bastions.")
    bastions: list[Bastion] = Field(default_factory=list)
    hosts: list[SshHost] = Field(min_length=1)
    iscsi: list[IscsiVolume] = Field(default_factory=list)
    nfs: list[NfsShare] = Field(default_factory=list)
    log_server: str | None = Field(
        None, pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$", description="host:port receiving shipped logs (syslog over TLS)."
    )
    app_version: str = Field("latest", description="Release of the API and document services the units run.")
    load_balancers: LoadBalancerPair | None = Field(None, description="The balancer pair in front of api/docs.")
    database_cluster: DatabaseCluster | None = Field(None, description="Primary + standby with automatic failover.")

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        hosts = {h.name: h for h in self.hosts}
        for kind, names in (
            ("host", [h.name for h in self.hosts]),
            ("bastion", [b.name for b in self.bastions]),
            ("volume", [v.name for v in self.iscsi] + [s.name for s in self.nfs]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} name {duplicates[0]!r}")
        bastions = {b.name for b in self.bastions}
        for bastion in self.bastions:
            if bastion.key is None and self.ssh_key is None:
                raise ValueError(f"bastion {bastion.name}: no SSH key (set key or inventory.sshKey)")
        for host in self.hosts:
            if host.bastion is not None and host.bastion not in bastions:
                raise ValueError(f"host {host.name}: unknown bastion {host.bastion!r}")
            if host.key is None and self.ssh_key is None:
                raise ValueError(f"host {host.name}: no SSH key (set key or inventory.sshKey)")
        for role in ("api", "docs", "db"):
            if not any(role in h.roles for h in self.hosts):
                raise ValueError(f"no host has the role {role!r}")
        for volume in self.iscsi:
            if volume.host not in hosts:
                raise ValueError(f"iscsi {volume.name}: unknown host {volume.host!r}")
            if volume.purpose == "database" and "db" not in hosts[volume.host].roles:
                raise ValueError(f"iscsi {volume.name}: a database volume must be presented to a db host")
        for share in self.nfs:
            for name in share.hosts:
                if name not in hosts:
                    raise ValueError(f"nfs {share.name}: unknown host {name!r}")
        for host in self.hosts:
            if "db" in host.roles and not any(v.host == host.name and v.purpose == "database" for v in self.iscsi):
                raise ValueError(f"host {host.name}: a db host needs an iscsi volume with purpose 'database'")
            if "docs" in host.roles and not any(host.name in s.hosts and s.purpose == "documents" for s in self.nfs):
                raise ValueError(f"host {host.name}: a docs host needs an nfs share with purpose 'documents'")
            if "db" in host.roles and not any(host.name in s.hosts and s.purpose == "backup" for s in self.nfs):
                raise ValueError(f"host {host.name}: a db host needs an nfs share with purpose 'backup'")
        return self

    @model_validator(mode="after")
    def _documents_backup(self) -> Inventory:
        """Each documents share is backed up (restic) from one docs host, to a backup share that host mounts."""
        for i, share in enumerate(self.nfs):
            key = f"nfs[{i}]"
            if share.purpose != "documents":
                if share.backup_password is not None:
                    raise KeyedError(f"{key}.backupPassword", "only a documents share is backed up by restic")
                continue
            if share.backup_password is None:
                raise KeyedError(f"{key}.backupPassword", "required: the restic repository password (a reference)")
            runner = self.documents_backup_host(share)
            if runner is None:
                raise KeyedError(f"{key}.hosts", "no docs host mounts the share: none can run its backup")
            if self.backup_mount(runner) is None:
                message = f"docs host {runner} runs the share's backup: it must mount a share with purpose 'backup'"
                raise KeyedError(f"{key}.hosts", message)
        return self

    def documents_backup_host(self, share: NfsShare) -> str | None:
        """The ONE host that runs a documents share's backup: the first docs host (inventory order) mounting it."""
        return next((h.name for h in self.hosts if "docs" in h.roles and h.name in share.hosts), None)

    def backup_mount(self, host: str) -> str | None:
        return next((s.mount for s in self.nfs if host in s.hosts and s.purpose == "backup"), None)

    def host(self, name: str) -> SshHost:
        return next(h for h in self.hosts if h.name == name)

    def bastion(self, name: str) -> Bastion:
        return next(b for b in self.bastions if b.name == name)

    def check_sites(self, site: str, copy_site: str | None) -> None:
        """Documents are served at the primary site; backups go to the second site of the same country.

        Every place the residency registry knows is read from the address: a label cannot move a share. An
        address no registered site routes (a lab) is left to `stack check`, which then cannot show residency
        and says INCOMPLETE.
        """
        for i, host in enumerate(self.hosts):
            if residency.site_of_address(host.address) not in (site, None):
                raise KeyedError(f"inventory.hosts[{i}].address", f"{host.address} is not an address of site {site}")
        for i, volume in enumerate(self.iscsi):
            portal = volume.portal.rsplit(":", 1)[0]
            if residency.site_of_address(portal) not in (site, None):
                raise KeyedError(f"inventory.iscsi[{i}].portal", f"{portal} is not an address of site {site}")
        for i, share in enumerate(self.nfs):
            key = f"inventory.nfs[{i}]"
            if share.site not in residency.IAAS_SITES:
                raise KeyedError(f"{key}.site", f"unknown site {share.site!r}")
            if share.purpose == "documents" and share.site != site:
                raise KeyedError(f"{key}.site", f"documents are served at the primary site {site}")
            if share.purpose == "backup" and share.site != copy_site:
                raise KeyedError(f"{key}.site", f"backups go to backup.copyRegion {copy_site}, not {share.site}")
            served_from = residency.site_of_address(share.server)
            if served_from not in (share.site, None):
                raise KeyedError(
                    f"{key}.server", f"{share.server} is at site {served_from}, not at {share.site} as labelled"
                )


class Environment(ConfigModel):
    platform: str = Field(pattern=r"^[a-z][a-z0-9-]{1,30}$", description="Platform name, e.g. prozorro-sale.")
    environment: Literal["prod", "staging", "test", "qa", "dev"]
    jurisdiction: Jurisdiction = Field(description="ISO country code or union (EU) the data must stay in.")
    primary_jurisdiction: Jurisdiction | None = Field(
        None, description="Pin of the primary data inside the jurisdiction (IE in EU); copies may lie anywhere in it."
    )
    cloud: Annotated[str, AfterValidator(_registered_cloud)] = Field(description="A cloud of opcloud/clouds.py.")
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
                f"{PROJECT}:region: {self.region} lies in {region_country}, outside jurisdiction {self.jurisdiction}"
            )
        pin = self.primary_jurisdiction
        if pin is not None:
            problem = residency.pin_problem(self.jurisdiction, pin)
            if problem:
                raise KeyedError("primaryJurisdiction", problem)
            if not residency.within(pin, region_country):
                raise ResidencyError(
                    f"{PROJECT}:region: {self.region} lies in {region_country}, outside the primary pin {pin}"
                )
        if self.database.engine == "azuresql" and self.cloud != "azure":
            raise KeyedError("database.engine", "azuresql is Azure SQL Database: only on cloud azure")
        pair = residency.azure_pair(self.region) if self.cloud == "azure" else None
        if self.database.engine == "azuresql" and self.backup.copy_region not in (None, pair):
            # The geo-redundant backups and the key twin go to the fixed pair: the secondary must sit beside them.
            raise KeyedError("backup.copyRegion", f"Azure SQL copies go to the paired region {pair}, not elsewhere")
        copy_region = self.backup.copy_region
        if self.backup.geo_redundancy == "zones":
            others = [r for r in residency.regions_within(self.cloud, self.jurisdiction) if r != self.region]
            if others:
                raise KeyedError(
                    "backup.geoRedundancy",
                    f"'zones' is only for a jurisdiction with one region; use copyRegion (one of {', '.join(others)})",
                )
            if copy_region is not None:
                raise KeyedError("backup.copyRegion", "copyRegion and geoRedundancy 'zones' exclude each other")
        elif copy_region is None:
            raise KeyedError("backup.copyRegion", "required: a second region (or site) for the backup copy")
        else:
            copy_country = residency.country_of(self.cloud, copy_region)
            if not residency.within(self.jurisdiction, copy_country):
                raise ResidencyError(
                    f"{PROJECT}:backup.copyRegion: {copy_region} lies in {copy_country}, "
                    f"outside jurisdiction {self.jurisdiction}"
                )
            if copy_region == self.region:
                raise KeyedError("backup.copyRegion", "must differ from the primary region")
        if self.cloud == "azure" and self.app.admin_ssh_public_key is None:
            raise KeyedError("app.adminSshPublicKey", "required on Azure: Linux scale sets need one")
        if self.cloud == "azure" and self.azure is None:
            raise KeyedError("azure", "required on Azure (tenantId, adminGroupObjectId, adminGroupName)")
        if self.cloud == "iaas" and self.inventory is None:
            raise KeyedError("inventory", "required on an IaaS cloud (hosts and volumes)")
        if self.cloud == "iaas" and self.inventory is not None:
            # The backup copy must survive the loss of the primary site without leaving the country.
            if copy_region is not None and residency.country_of("iaas", copy_region) != region_country:
                raise KeyedError("backup.copyRegion", f"{copy_region} must be a site in {region_country}")
            self.inventory.check_sites(self.region, copy_region)
            for i, host in enumerate(self.inventory.hosts):
                if host.address not in self.network.cidr:
                    raise KeyedError(f"inventory.hosts[{i}].address", f"{host.address} lies outside network.cidr")
        return self

    @model_validator(mode="after")
    def _release_store_inside(self) -> Environment:
        release = self.app.release
        if release is not None:
            for role in ("api", "docs"):
                problem = artifact_store_problem(release.role(role).artifact, self)
                if problem:
                    raise ValueError(f"app.release.{role}.artifact: {problem}")
        return self

    @model_validator(mode="after")
    def _one_service_per_host(self) -> Environment:
        if self.app.release is not None and self.inventory is not None:
            for host in self.inventory.hosts:
                if {"api", "docs"} <= set(host.roles):
                    raise ValueError(f"inventory host {host.name}: api and docs would both listen on 443 there")
        return self

    @model_validator(mode="after")
    def _balancer_pair(self) -> Environment:
        pair = self.inventory.load_balancers if self.inventory else None
        if self.inventory is None or pair is None:
            return self
        names = {h.name: h for h in self.inventory.hosts}
        if len(set(pair.hosts)) != 2:
            raise ValueError("inventory.loadBalancers.hosts: two different hosts")
        for name in pair.hosts:
            if name not in names:
                raise ValueError(f"inventory.loadBalancers: unknown host {name!r}")
            if "lb" not in names[name].roles:
                raise ValueError(f"inventory.loadBalancers: host {name} lacks the role 'lb'")
        strays = [h.name for h in self.inventory.hosts if "lb" in h.roles and h.name not in pair.hosts]
        if strays:
            raise ValueError(f"host {strays[0]} has the role 'lb' but is not in inventory.loadBalancers")
        if pair.virtual_address not in self.network.cidr:
            raise ValueError(f"inventory.loadBalancers.virtualAddress {pair.virtual_address} lies outside network.cidr")
        if pair.virtual_address in {h.address for h in self.inventory.hosts}:
            raise ValueError("inventory.loadBalancers.virtualAddress is a host's own address")
        if self.app.release is None:
            raise ValueError("inventory.loadBalancers needs app.release (its TLS material and health paths)")
        return self

    @model_validator(mode="after")
    def _database_cluster(self) -> Environment:
        cluster = self.inventory.database_cluster if self.inventory else None
        if self.inventory is None or cluster is None:
            return self
        names = {h.name: h for h in self.inventory.hosts}
        if len(set(cluster.hosts)) != 2:
            raise ValueError("inventory.databaseCluster.hosts: two different db hosts")
        for name in cluster.hosts:
            if name not in names or "db" not in names[name].roles:
                raise ValueError(f"inventory.databaseCluster: {name!r} is not a db host")
        if cluster.witness not in names or cluster.witness in cluster.hosts:
            raise ValueError(f"inventory.databaseCluster.witness: {cluster.witness!r} is not a third host")
        strays = [h.name for h in self.inventory.hosts if "db" in h.roles and h.name not in cluster.hosts]
        if strays:
            raise ValueError(f"db host {strays[0]} is not in inventory.databaseCluster")
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
            **({"primary-jurisdiction": self.primary_jurisdiction} if self.primary_jurisdiction else {}),
            "managed-by": "opcloud",
        }


def artifact_store_problem(url: str, environment: Environment) -> str | None:
    """Why the artifact store at `url` is not the platform's own inside its jurisdiction (None when it is).
    An address must lie in network.cidr; a name must be one the residency registry places in the jurisdiction;
    plain http is for an in-network mirror only (the SHA-256 guards the bytes, no secret travels)."""
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/") or ".." in parts.path.split("/"):
            return f"{url!r}: a file artifact is file:///absolute/path on the hosts"
        return None
    host = parts.hostname or ""
    if not host or not parts.path.strip("/"):
        return f"{url!r}: no host or no path"
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address not in environment.network.cidr:
            return f"{host} lies outside network.cidr {environment.network.cidr}: not the platform's own store"
        return None
    if parts.scheme == "http":
        return f"{url!r}: plain http only to an address inside network.cidr"
    if environment.cloud == "azure" and host.endswith(".blob.core.windows.net"):
        return None  # a blob name carries no region: the app tier accepts only the stack's own documents account
    country = residency.country_of_host(host)
    if country is None:
        return f"cannot place {host} in a country: use an address in network.cidr or a known endpoint"
    if not residency.within(environment.jurisdiction, country):
        return f"{host} lies in {country}, outside jurisdiction {environment.jurisdiction}"
    return None


# ---------------------------------------------------------------------------------------------- loading


def _key_path(loc: tuple[Any, ...]) -> str:
    head, *rest = loc
    path = f"{PROJECT}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _parse_key(key: str) -> tuple[str | int, ...]:
    """`inventory.nfs[1].server` -> ("inventory", "nfs", 1, "server")."""
    parts: list[str | int] = []
    for part in key.split("."):
        name, *indexes = part.replace("]", "").split("[")
        parts.append(name)
        parts += [int(i) for i in indexes]
    return tuple(parts)


def decode_config_value(value: Any) -> Any:
    """Pulumi passes structured config as JSON strings; files hold them as YAML objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def validate_config(model: type[ModelT], config: Mapping[str, Any], source: str) -> ModelT:
    """Validate the `opcloud:` keys of a stack's config map into `model`. Every error of the file is reported at
    once, one line each, naming the key as written, with the key that was probably meant."""
    fields = {
        name: decode_config_value(value)
        for key, value in config.items()
        for namespace, _, name in [key.partition(":")]
        if namespace == PROJECT and name != "program"
    }
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise InputErrors([f"{source}: {line}" for line in _error_lines(model, error)]) from None
    except (InputError, ValueError) as error:
        raise type(error)(f"{source}: {error}") from None


def _error_lines(model: type[BaseModel], error: ValidationError) -> list[str]:
    """Unknown keys first (a misspelt key also makes the right one "missing"), then the rest."""
    unknown, other = [], []
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        loc = tuple(item["loc"])
        if isinstance(cause, KeyedError):
            loc = (*loc, *_parse_key(cause.key))
        where = _key_path(loc) if loc else PROJECT
        if item["type"] == "extra_forbidden":
            meant = config_keys.closest(str(loc[-1]), _known_keys(model, loc[:-1]))
            hint = f" (did you mean {_key_path((*loc[:-1], meant))}?)" if meant else ""
            unknown.append(f"{where}: unknown key{hint}")
        elif item["type"] == "missing":
            other.append(f"{where}: missing value")
        else:
            other.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return [*unknown, *other]


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The keys a model accepts at `loc` (as written in the files), or none where it cannot be told."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue  # an item of a list: the list's field already named the item's model
        field = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
        current = _model_in(field.annotation) if field is not None else None
    if current is None:
        return set()
    return {field.alias or name for name, field in current.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `Model | None`, `list[Model]`, `Annotated[...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def from_config(config: Mapping[str, Any], source: str) -> Environment:
    """Validate a stack's config map (`project:key` -> value) into an `Environment`; every bad key at once."""
    provider_errors = _provider_key_errors(config, source)
    try:
        environment = validate_config(Environment, config, source)
    except InputErrors as error:
        raise InputErrors([*provider_errors, *error.lines]) from None
    if provider_errors:
        raise InputErrors(provider_errors)
    _check_provider_region(environment, config, source)
    return environment


def _provider_key_errors(config: Mapping[str, Any], source: str) -> list[str]:
    """Keys of a provider namespace (`aws:regon`) the provider does not read: refused, with the likely one."""
    lines = []
    for key in config:
        namespace, _, name = key.partition(":")
        known = config_keys.provider_keys(namespace)
        if known is not None and name not in known:
            meant = config_keys.closest(name, known)
            lines.append(f"{source}: {key}: unknown key" + (f" (did you mean {namespace}:{meant}?)" if meant else ""))
    return lines


def _check_provider_region(environment: Environment, config: Mapping[str, Any], source: str) -> None:
    key = clouds.get(environment.cloud).provider_region_key
    if key and key in config and decode_config_value(config[key]) != environment.region:
        raise InputError(f"{source}: {key}: {config[key]!r} disagrees with {PROJECT}:region {environment.region!r}")


def stack_file(stack: str) -> Path:
    """`Pulumi.<stack>.yaml` in the stackConfigDir of the project around the working directory."""
    return find_project().stack_file(stack)


def resolve(env: str) -> tuple[str, Path]:
    """ENV is a stack name of the project (its stackConfigDir) or a path to a `Pulumi.<stack>.yaml` file."""
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
    """The stacks of the project around the working directory, as `pulumi stack ls` would name them."""
    return find_project().stacks()


# ---------------------------------------------------------------------------------------------- secrets

# Provider config keys their own schemas mark secret (credentials).
PROVIDER_SECRET_KEYS = frozenset(
    {
        "aws:accessKey",
        "aws:secretKey",
        "aws:token",
        "azure-native:clientSecret",
        "azure-native:clientCertificatePassword",
        "azure-native:oidcToken",
        "azure-native:oidcRequestToken",
    }
)
# Keys of namespaces we have no schema for: a secret-sounding name is treated as a secret too.
_SECRET_NAME = re.compile(r"password|passwd|passphrase|secret|token|private_?key|luks|credential|apikey", re.I)


def _secret_fields(model: BaseModel, path: str) -> Iterator[tuple[str, str]]:
    """(config key, why) of every value the model's schema marks secret: hidden fields and references."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{path}.{info.alias or to_camel(name)}" if path else info.alias or to_camel(name)
        if isinstance(value, SecretRef):
            if value.config:
                yield value.config, f"referenced by {PROJECT}:{key}"
        elif not info.repr and value is not None:
            yield f"{PROJECT}:{key}", "a secret by the schema"
        elif isinstance(value, BaseModel):
            yield from _secret_fields(value, key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _secret_fields(item, f"{key}[{i}]")


def check_plain_secrets(stack_file: StackFile, model: BaseModel) -> None:
    """Refuse a secret written as a plain value: it would be committed to git with the stack file."""
    wanted = dict(_secret_fields(model, ""))
    for key in stack_file.config:
        namespace = key.partition(":")[0]
        if key in PROVIDER_SECRET_KEYS:
            wanted.setdefault(key, "a credential by the provider's schema")
        elif namespace != PROJECT and _SECRET_NAME.search(key.partition(":")[2]):
            wanted.setdefault(key, "a secret by its name")
    for key, why in sorted(wanted.items()):
        if key in stack_file.config and key not in stack_file.secret_keys:
            raise InputError(
                f"{stack_file.path}: {key}: holds a secret ({why}) but is a plain value: "
                f"set it with `pulumi config set --secret {key}`"
            )
