"""The test-stand program: a Jenkins QA stand on Azure that CI creates, uses and destroys.

`environments/Pulumi.test-stand.yaml` holds the shared settings; `opcloud stand up` copies them into one
stack per stand (`test-stand-<name>`) and adds the per-stand values: name, owner, expiry, instance id and
the generated passwords (Pulumi secrets). Validated into `TestStandSettings` before anything is declared.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from ipaddress import IPv4Network
from typing import Any, Literal

import pulumi
from opcloud.components.azure._common import (
    ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
    ROLE_SECRETS_USER,
    ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR,
    ROLE_VIRTUAL_MACHINE_CONTRIBUTOR,
)
from opcloud.components.naming import key_vault_name, storage_account_name
from opcloud.stand.components.agents import AgentPool, AgentPoolArgs
from opcloud.stand.components.artifacts import ArtifactStore, ArtifactStoreArgs
from opcloud.stand.components.cloud_init import (
    DEFAULT_PLUGINS,
    AgentBoot,
    ControllerBoot,
    agent_cloud_init,
    controller_cloud_init,
)
from opcloud.stand.components.controller import ControllerArgs, JenkinsController
from opcloud.stand.components.monitoring import StandMonitoring, StandMonitoringArgs
from opcloud.stand.components.network import StandNetwork, StandNetworkArgs
from opcloud.stand.components.roles import grant
from opcloud.stand.components.vault import ADMIN_SECRET, AGENT_SECRET, StandVault, StandVaultArgs
from opcloud.stand.lifecycle import (
    expiry,
    format_time,
    parse_time,
    parse_ttl,
    stand_of_stack,
    validate_name,
)
from pulumi_azure_native import authorization, dns, managedidentity, resources
from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from opcloud import residency
from opcloud.config.environment import (
    PROJECT,
    SECRET_PLACEHOLDER,
    AdminAllowList,
    ConfigModel,
    EntryAllowList,
    Jurisdiction,
    decode_config_value,
    validate_config,
)
from opcloud.errors import InputError

# Per-stand keys `opcloud stand up` writes; everything else comes from the environment file.
STAND_KEYS = ("standName", "owner", "expiresAt", "instance", "adminPassword", "agentPassword")
_SSH_KEY_PATTERN = r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]{40,}( .*)?$"


def _as_value_error(check: Callable[[str], Any], value: str) -> Any:
    """Our pure checks raise InputError; pydantic reports only ValueErrors with the key's path."""
    try:
        return check(value)
    except InputError as error:
        raise ValueError(str(error)) from None


class StandNetworkSettings(ConfigModel):
    cidr: IPv4Network = Field(IPv4Network("10.90.0.0/24"), description="Stand address space, split in two subnets.")
    allowed_cidrs: EntryAllowList = Field(min_length=1, description="May reach Jenkins on 443 (UI, webhooks).")
    admin_cidrs: AdminAllowList = Field(default_factory=list, description="May SSH to the controller.")

    @field_validator("cidr")
    @classmethod
    def _private(cls, value: IPv4Network) -> IPv4Network:
        if not value.is_private:
            raise ValueError(f"{value} is not a private address range")
        if not 16 <= value.prefixlen <= 26:
            raise ValueError(f"{value} must be between a /16 and a /26 (two subnets of at least /27)")
        return value


class ControllerSettings(ConfigModel):
    size: str = "Standard_B2ms"
    disk_gb: int = Field(64, ge=30, le=1024)
    admin_username: str = Field("opcloud", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_public_key: str = Field(pattern=_SSH_KEY_PATTERN, description="Operators' SSH key; password login is off.")
    shutdown_time: str = Field("1900", pattern=r"^([01]\d|2[0-3])[0-5]\d$", description="Daily auto-shutdown, HHMM.")
    shutdown_time_zone: str = "UTC"

    @field_validator("admin_username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in {"admin", "root", "administrator", "user", "guest", "test"}:
            raise ValueError(f"{value!r} is reserved by Azure")
        return value


class AgentSettings(ConfigModel):
    size: str = "Standard_D2s_v5"
    capacity: int = Field(0, ge=0, description="Agents at creation; idle agents scale back to zero.")
    maximum: int = Field(4, ge=1, le=20)
    labels: list[str] = Field(default_factory=lambda: ["linux"], min_length=1)
    executors: int = Field(2, ge=1, le=16)

    @model_validator(mode="after")
    def _bounds(self) -> AgentSettings:
        if self.capacity > self.maximum:
            raise ValueError(f"capacity ({self.capacity}) is above maximum ({self.maximum})")
        return self


class TlsSettings(ConfigModel):
    """`keyvault`: a PEM certificate (secret) for *.<domain> in a shared vault; `self-signed`: made on the VM.

    With a `domain` the stand answers as <stand>.<domain> (a CNAME is created when `dnsZoneId` names the
    Azure DNS zone); without one, as its Azure name <label>.<region>.cloudapp.azure.com.
    Let's Encrypt is not offered: its HTTP/TLS challenges need 80/443 open to the whole Internet.
    """

    mode: Literal["keyvault", "self-signed"] = "self-signed"
    domain: str | None = Field(None, max_length=200, pattern=r"^([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
    dns_zone_id: str | None = Field(
        None, pattern=r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/dnszones/[^/]+$"
    )
    certificate_secret_uri: str | None = Field(
        None, pattern=r"^https://[a-z0-9-]{3,24}\.vault\.azure\.net/secrets/[A-Za-z0-9-]{1,127}(/[0-9a-f]{32})?$"
    )
    vault_id: str | None = Field(
        None, pattern=r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/]+$"
    )

    @model_validator(mode="after")
    def _complete(self) -> TlsSettings:
        if self.mode == "keyvault":
            missing = [k for k in ("domain", "certificate_secret_uri", "vault_id") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"mode 'keyvault' needs {', '.join(to_camel(k) for k in missing)}")
        if self.dns_zone_id is not None:
            if self.domain is None:
                raise ValueError("dnsZoneId needs the domain it serves")
            if self.dns_zone_id.rsplit("/", 1)[-1].lower() != self.domain:
                raise ValueError(f"dnsZoneId names zone {self.dns_zone_id.rsplit('/', 1)[-1]!r}, not {self.domain!r}")
        return self

    def zone(self) -> tuple[str, str] | None:
        """(resource group, zone name) of the DNS zone, if any."""
        if self.dns_zone_id is None:
            return None
        parts = self.dns_zone_id.split("/")
        return parts[4], parts[-1]


class JenkinsSettings(ConfigModel):
    apt_repo: str = Field("https://pkg.jenkins.io/debian-stable", pattern=r"^https://")
    apt_key_url: str = Field("https://pkg.jenkins.io/debian-stable/jenkins.io-2023.key", pattern=r"^https://")
    plugin_manager_version: str = Field("2.13.2", pattern=r"^\d+\.\d+\.\d+$")
    plugins: list[str] = Field(default_factory=lambda: list(DEFAULT_PLUGINS))
    admin_user: str = Field("admin", pattern=r"^[a-z][a-z0-9_-]{0,31}$")

    @field_validator("plugins")
    @classmethod
    def _casc(cls, value: list[str]) -> list[str]:
        for required in ("configuration-as-code", "matrix-auth", "swarm"):
            if required not in value:
                raise ValueError(f"{required!r} is required: the stand configures Jenkins and its agents with it")
        return value


class TestStandSettings(ConfigModel):
    region: str
    jurisdiction: Jurisdiction
    platform: str = Field(pattern=r"^[a-z][a-z0-9-]{1,30}$", description="Platform under test, e.g. prozorro-sale.")
    environment: Literal["qa", "test", "dev"] = "qa"
    owner: str = Field(min_length=1, description="Who answers for the stand (the `owner` tag).")
    ttl: str = Field("8h", description="Default time-to-live; `opcloud stand up --ttl` overrides it.")
    stand_name: str | None = None
    expires_at: datetime | None = None
    instance: str | None = Field(None, pattern=r"^[a-z0-9]{4,8}$", description="Keeps global names unique per stand.")
    network: StandNetworkSettings
    controller: ControllerSettings
    agents: AgentSettings = AgentSettings()
    tls: TlsSettings = TlsSettings()
    jenkins: JenkinsSettings = JenkinsSettings()
    admin_password: str | None = Field(None, repr=False, description="Pulumi secret; generated by stand up.")
    agent_password: str | None = Field(None, repr=False)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("admin_password", "agent_password")
    @classmethod
    def _strong(cls, value: str | None) -> str | None:
        # Offline synth sees "[secret]" for an encrypted value: its length says nothing.
        if value is not None and value != SECRET_PLACEHOLDER and len(value) < 16:
            raise ValueError("must be at least 16 characters (set it with pulumi config set --secret)")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        _as_value_error(parse_ttl, value)
        return value

    @field_validator("stand_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _as_value_error(validate_name, value) if value is not None else None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _expiry(cls, value: Any) -> Any:
        return _as_value_error(parse_time, value) if isinstance(value, str) else value

    @field_validator("tags")
    @classmethod
    def _reserved(cls, value: dict[str, str]) -> dict[str, str]:
        clash = {"owner", "expiry"} & set(value)
        if clash:
            raise ValueError(f"tag {sorted(clash)[0]!r} is set by the stand itself; use opcloud:owner / --ttl")
        return value

    @model_validator(mode="after")
    def _placement(self) -> TestStandSettings:
        country = residency.country_of("azure", self.region)
        if not residency.within(self.jurisdiction, country):
            raise ValueError(f"region {self.region} lies in {country}, outside jurisdiction {self.jurisdiction}")
        return self


def settings_from_config(config: Mapping[str, Any], source: str) -> TestStandSettings:
    """Validate the stack config map (`opcloud:key` -> value) into `TestStandSettings`; one-line errors."""
    settings = validate_config(TestStandSettings, config, source)
    location = config.get("azure-native:location")
    if location is not None and decode_config_value(location) != settings.region:
        raise InputError(
            f"{source}: azure-native:location: {location!r} disagrees with {PROJECT}:region {settings.region!r}"
        )
    return settings


# ---------------------------------------------------------------------------------------------- program


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _password(given: str | None) -> pulumi.Output[str]:
    """The configured secret, or a fresh one (`opcloud stand up` always sets one so it stays stable)."""
    if given:
        return pulumi.Output.secret(given)
    return pulumi.Output.secret(secrets.token_urlsafe(24))


def compose(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Declare the stand and export url, resourceGroup, expiry and owner."""
    settings = settings_from_config(config, source)
    stack = pulumi.get_stack()
    stand = settings.stand_name or stand_of_stack(stack) or validate_name(stack)
    expires = settings.expires_at or expiry(datetime.now(UTC), parse_ttl(settings.ttl))
    instance = settings.instance or hashlib.sha256(stand.encode()).hexdigest()[:4]
    prefix = f"ts-{stand}"
    tags = {**settings.tags, "owner": settings.owner, "expiry": format_time(expires), "stand": stand}
    tags |= {"platform": settings.platform, "environment": settings.environment}
    tags |= {"managed-by": "opcloud", "jurisdiction": settings.jurisdiction}
    region = settings.region
    client = authorization.get_client_config()

    group = resources.ResourceGroup(prefix, resource_group_name=f"rg-{prefix}", location=region, tags=tags)
    child = pulumi.ResourceOptions(parent=group)
    rg = group.name

    net = StandNetwork(
        prefix,
        StandNetworkArgs(
            rg, region, settings.network.cidr, settings.network.allowed_cidrs, settings.network.admin_cidrs, tags
        ),
        opts=child,
    )
    identities = {
        role: managedidentity.UserAssignedIdentity(
            f"{prefix}-{role}-id", resource_group_name=rg, location=region, tags=tags, opts=child
        )
        for role in ("controller", "agents", "artifacts")
    }
    subnets = [net.controller_subnet_id, net.agents_subnet_id]
    # Globally unique names: `instance` (random, set by stand up) keeps a re-created stand clear of the
    # previous one's soft-deleted vault.
    vault_name = key_vault_name(f"{prefix}-{instance}")
    artifact_account = storage_account_name(f"ts{stand}{instance}", "art")
    vault = StandVault(
        prefix,
        StandVaultArgs(
            rg,
            region,
            vault_name,
            client.tenant_id,
            subnets,
            _password(settings.admin_password),
            _password(settings.agent_password),
            tags,
            expires,
        ),
        opts=child,
    )
    sub = client.subscription_id
    key_grant = grant(
        f"{prefix}-artifacts-key",
        principal_id=identities["artifacts"].principal_id,
        role=ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
        scope=vault.key_id,
        subscription_id=sub,
        parent=group,
    )
    artifacts = ArtifactStore(
        prefix,
        ArtifactStoreArgs(
            rg,
            region,
            artifact_account,
            subnets,
            tags,
            identity_id=identities["artifacts"].id,
            key_vault_uri=vault.vault_uri,
            key_name=vault.key_name,
            depends_on=[key_grant],
        ),
        opts=child,
    )
    logs = StandMonitoring(prefix, StandMonitoringArgs(rg, region, f"{prefix}-{instance}-logs", tags), opts=child)
    logs.watch("vault", vault.vault_id)
    logs.watch("blobs", artifacts.account_id.apply(lambda account: f"{account}/blobServices/default"))

    dns_label = f"opcloud-{stand}-{instance}"
    azure_name = f"{dns_label}.{region}.cloudapp.azure.com"
    hostname = f"{stand}.{settings.tls.domain}" if settings.tls.domain else azure_name
    controller_boot = identities["controller"].client_id.apply(
        lambda client_id: _b64(
            controller_cloud_init(
                ControllerBoot(
                    stand=stand,
                    hostname=hostname,
                    vault_name=vault_name,
                    identity_client_id=client_id,
                    admin_secret=ADMIN_SECRET,
                    agent_secret=AGENT_SECRET,
                    expiry=format_time(expires),
                    tls_mode=settings.tls.mode,
                    tls_secret_uri=settings.tls.certificate_secret_uri,
                    apt_repo=settings.jenkins.apt_repo,
                    apt_key_url=settings.jenkins.apt_key_url,
                    plugin_manager_version=settings.jenkins.plugin_manager_version,
                    plugins=tuple(settings.jenkins.plugins),
                    admin_user=settings.jenkins.admin_user,
                )
            )
        )
    )
    c = settings.controller
    controller = JenkinsController(
        prefix,
        ControllerArgs(
            resource_group_name=rg,
            location=region,
            vm_name=f"{prefix}-jenkins",
            size=c.size,
            disk_gb=c.disk_gb,
            subnet_id=net.controller_subnet_id,
            private_ip=str(net.controller_address),
            dns_label=dns_label,
            admin_username=c.admin_username,
            ssh_public_key=c.ssh_public_key,
            identity_id=identities["controller"].id,
            custom_data=controller_boot,
            shutdown_time=c.shutdown_time,
            shutdown_time_zone=c.shutdown_time_zone,
            tags=tags,
        ),
        opts=child,
    )
    a = settings.agents
    agent_boot = identities["agents"].client_id.apply(
        lambda client_id: _b64(
            agent_cloud_init(
                AgentBoot(
                    controller_address=str(net.controller_address),
                    vault_name=vault_name,
                    identity_client_id=client_id,
                    agent_secret=AGENT_SECRET,
                    labels=tuple(a.labels),
                    executors=a.executors,
                )
            )
        )
    )
    agents = AgentPool(
        prefix,
        AgentPoolArgs(
            resource_group_name=rg,
            location=region,
            scale_set_name=f"{prefix}-agents",
            size=a.size,
            capacity=a.capacity,
            maximum=a.maximum,
            subnet_id=net.agents_subnet_id,
            admin_username=c.admin_username,
            ssh_public_key=c.ssh_public_key,
            identity_id=identities["agents"].id,
            custom_data=agent_boot,
            tags=tags,
        ),
        opts=child,
    )

    # Narrowest grants: the controller reads the vault and scales its agents; agents read only their own
    # secret and write artifacts.
    ctl, agt = identities["controller"].principal_id, identities["agents"].principal_id
    grants: list[tuple[str, pulumi.Output[str], str, pulumi.Input[str]]] = [
        ("controller-secrets", ctl, ROLE_SECRETS_USER, vault.vault_id),
        ("controller-scale", ctl, ROLE_VIRTUAL_MACHINE_CONTRIBUTOR, agents.scale_set_id),
        ("agents-secret", agt, ROLE_SECRETS_USER, vault.agent_secret_id),
        ("agents-artifacts", agt, ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, artifacts.account_id),
    ]
    if settings.tls.mode == "keyvault" and settings.tls.vault_id:
        grants.append(("controller-tls", ctl, ROLE_SECRETS_USER, settings.tls.vault_id))
    for suffix, principal, role, scope in grants:
        grant(f"{prefix}-{suffix}", principal_id=principal, role=role, scope=scope, subscription_id=sub, parent=group)

    zone = settings.tls.zone()
    if zone is not None:  # <stand>.<domain> -> the controller's Azure name, gone with the stand
        dns.RecordSet(
            f"{prefix}-cname",
            resource_group_name=zone[0],
            zone_name=zone[1],
            relative_record_set_name=stand,
            record_type="CNAME",
            ttl=300,
            cname_record=dns.CnameRecordArgs(cname=azure_name),
            metadata=tags,
            opts=pulumi.ResourceOptions(parent=group, depends_on=[controller]),
        )

    outputs = {
        "url": f"https://{hostname}/",
        "resourceGroup": f"rg-{prefix}",
        "expiry": format_time(expires),
        "owner": settings.owner,
        "standName": stand,
        "controllerVm": f"{prefix}-jenkins",
        "agentsScaleSet": f"{prefix}-agents",
        "artifactsAccount": artifact_account,
        "vaultName": vault_name,
        "publicIp": controller.public_ip,
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs
