"""The cloud-neutral contract of the platform's parts.

Each part of DESIGN.md's table has one Args type here and one outputs type; the AWS, Azure and IaaS
components take the same Args and expose the same outputs, so the stack program composes a platform
without knowing the cloud. Each component also keeps a `native` attribute: a deliberate handle to the
provider resources it declared, for the rare stack that must reach past the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Protocol

import pulumi

from opcloud.schedules import BackupSchedule


@dataclass(frozen=True)
class Placement:
    """Where a stack lives and how its resources are marked; shared by every part."""

    prefix: str  # "<platform>-<environment>", the start of every resource name
    region: str
    jurisdiction: str
    tags: Mapping[str, str]
    production: bool
    copy_region: str | None = None  # second region for backup copies and replicas (None: zone-redundant)


# ------------------------------------------------------------------------------------------------- network


@dataclass(frozen=True)
class NetworkArgs:
    placement: Placement
    cidr: IPv4Network
    zones: int
    allowed_cidrs: Sequence[str]  # may reach the public entry over TLS
    admin_cidrs: Sequence[str] = ()  # operators' networks


@dataclass(frozen=True)
class NetworkOutputs:
    network_id: pulumi.Output[str]
    public_subnet_ids: Sequence[pulumi.Output[str]]
    app_subnet_ids: Sequence[pulumi.Output[str]]
    data_subnet_ids: Sequence[pulumi.Output[str]]
    # Firewall (security group / NSG) guarding each tier: "public", "app", "data".
    firewall_ids: Mapping[str, pulumi.Output[str]]


# ---------------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeysArgs:
    placement: Placement
    admin_cidrs: Sequence[str] = ()
    rotation_days: int = 365
    deletion_window_days: int = 30


@dataclass(frozen=True)
class KeysOutputs:
    key_id: pulumi.Output[str]  # KMS key ARN / Key Vault key id: encrypts every data store
    copy_key_id: pulumi.Output[str] | None  # the key in the copy region, if there is one


# ------------------------------------------------------------------------------------------ object storage


@dataclass(frozen=True)
class DocumentStoreArgs:
    placement: Placement
    keys: KeysOutputs
    network: NetworkOutputs
    infrequent_after_days: int = 30
    archive_after_days: int = 180
    noncurrent_retention_days: int = 365
    soft_delete_days: int = 30
    access_log_target: pulumi.Input[str] | None = None  # bucket / workspace receiving access logs


@dataclass(frozen=True)
class DocumentStoreOutputs:
    store_name: pulumi.Output[str]  # bucket / storage account name
    store_id: pulumi.Output[str]
    replica_name: pulumi.Output[str] | None


# ------------------------------------------------------------------------------------------------ database


@dataclass(frozen=True)
class DatabaseArgs:
    placement: Placement
    keys: KeysOutputs
    network: NetworkOutputs
    engine_version: str
    size: str
    storage_gb: int
    database_name: str
    high_availability: bool = True
    deletion_protection: bool = True
    backup_retention_days: int = 35
    admin_cidrs: Sequence[str] = ()
    admin_group: Mapping[str, str] = field(default_factory=dict)  # Azure: Entra admin (tenantId, objectId, name)
    weekly_retention_weeks: int = 12  # Azure SQL: weekly full backups kept as long-term retention


@dataclass(frozen=True)
class DatabaseOutputs:
    endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    server_id: pulumi.Output[str]


# ------------------------------------------------------------------------------------------------- backups


@dataclass(frozen=True)
class BackupArgs:
    placement: Placement
    keys: KeysOutputs
    schedule: BackupSchedule
    protected_ids: Sequence[pulumi.Input[str] | None]  # database server (None: it backs itself up), document store


@dataclass(frozen=True)
class BackupOutputs:
    vault_id: pulumi.Output[str]
    copy_vault_id: pulumi.Output[str] | None


# ------------------------------------------------------------------------------------------------ app tier


@dataclass(frozen=True)
class HostGroupSpec:
    size: str
    min: int
    max: int


class UserDataRenderer(Protocol):
    """Renders one role's release: as `#cloud-config` (hosts.release.cloud_init) or as one script for a VM
    extension (hosts.release.release_script), bound to the environment."""

    def __call__(
        self,
        role: str,
        secret_commands: Mapping[str, str],
        *,
        port: int,
        fetch_command: str,
        helpers: str,
        packages: Sequence[str],
    ) -> str: ...


@dataclass(frozen=True)
class RoleDelivery:
    """What one role's hosts fetch at boot: the artifact and the secrets the release step reads."""

    artifact: str  # URL in the platform's own store, inside the jurisdiction
    health_path: str
    version: str
    sha256: str  # with `version`, the release's identity: what a rolling update compares
    # Step variable (TLS_CERT, TLS_KEY, SECRET_<NAME>) -> its value as a Pulumi secret (stored encrypted), read
    # only when a cloud stores it (IaaS hosts get theirs over SSH, so their stacks never read it here).
    secrets: Mapping[str, Callable[[], pulumi.Output[str]]]


@dataclass(frozen=True)
class ReleaseArgs:
    """The environment's release as the AWS (cloud-init) and Azure (VM extension) app tiers deliver it; IaaS
    uses host steps."""

    roles: Mapping[str, RoleDelivery]  # "api", "docs"
    render: UserDataRenderer  # #cloud-config (AWS launch templates)
    render_script: UserDataRenderer  # the same files as one script (Azure's release extension)


@dataclass(frozen=True)
class AppTierArgs:
    placement: Placement
    keys: KeysOutputs
    network: NetworkOutputs
    domain: str
    certificate: str
    api: HostGroupSpec
    docs: HostGroupSpec
    allowed_cidrs: Sequence[str]
    rate_limit: int
    log_target: pulumi.Input[str] | None = None
    release: ReleaseArgs | None = None  # None: the hosts boot without a service (no app.release)


@dataclass(frozen=True)
class AppTierOutputs:
    url: pulumi.Output[str]
    load_balancer_id: pulumi.Output[str]
    firewall_id: pulumi.Output[str]  # the web application firewall


# ------------------------------------------------------------------------------------------- audit logging


@dataclass(frozen=True)
class AuditArgs:
    placement: Placement
    keys: KeysOutputs
    retention_days: int


@dataclass(frozen=True)
class VulnerabilityScanArgs:
    placement: Placement


@dataclass(frozen=True)
class AuditOutputs:
    log_store_id: pulumi.Output[str]  # audit log bucket / Log Analytics workspace
    trail_id: pulumi.Output[str]  # CloudTrail / diagnostic setting / auditd ruleset
