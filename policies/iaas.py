"""IaaS host steps as the rules read them: `kind`, `host` and a typed `spec` (components/iaas/steps.py).

A step is a resource of the dynamic provider; its spec holds the files it manages, so the rules read
the very postgresql.conf, pg_hba.conf and systemd timers that land on the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import ip_network
from typing import Any

import yaml
from opcloud.policies.adapter import CloudPolicy
from opcloud.policies.model import UNKNOWN, ResourceView, StackView

from opcloud import residency
from opcloud.schedules import WEEKDAYS

STEP_TYPES = ("pulumi-python:dynamic:Resource",)
_DAYS = {d[:3].capitalize(): d for d in WEEKDAYS}


def kind(resource: ResourceView) -> str | None:
    if resource.type not in STEP_TYPES:
        return None
    value = resource.get("kind")
    return str(value) if value else None


def files(resource: ResourceView) -> Mapping[str, str]:
    found = resource.get("spec.files")
    return found if isinstance(found, Mapping) else {}


def file_ending(resource: ResourceView, suffix: str) -> str:
    return next((text for path, text in files(resource).items() if path.endswith(suffix)), "")


def settings(text: str) -> dict[str, str]:
    """`key = value` lines of a postgresql.conf or pgbackrest.conf, quotes stripped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip().strip("'\"")
    return found


def calendar_days(timer: str) -> set[str]:
    """Weekdays a systemd timer's OnCalendar= fires on (`Mon,Tue *-*-* 01:00:00`; no weekday: daily)."""
    match = re.search(r"^OnCalendar=(.+)$", timer, re.MULTILINE)
    if not match:
        return set()
    first = match.group(1).split()[0]
    if not re.fullmatch(r"[A-Za-z,.-]+", first):
        return set(WEEKDAYS)
    days: set[str] = set()
    for part in first.split(","):
        low, _, high = part.partition("..")
        if low in _DAYS:
            names = list(_DAYS)
            end = names.index(high) if high in _DAYS else names.index(low)
            days.update(_DAYS[n] for n in names[names.index(low) : end + 1])
    return days


def pg_hba_plain_lines(text: str) -> list[str]:
    """pg_hba lines that accept a connection without TLS (`host` or `hostnossl`, not `reject`)."""
    bad = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] in ("host", "hostnossl") and fields[-1] != "reject":
            bad.append(" ".join(fields))
    return bad


def pg_hba_sources(text: str) -> list[str]:
    """Networks pg_hba lets in over the network (`host*` lines that do not reject); `all` is the world."""
    sources = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 5 and fields[0].startswith("host") and fields[-1] != "reject":
            address = fields[3]
            sources.append("0.0.0.0/0" if address in ("all", "0.0.0.0/0") else address)
    return sources


def spec_value(resource: ResourceView, key: str) -> Any:
    return resource.get(f"spec.{key}")


def postgresql_conf(step: ResourceView) -> str:
    """The server settings a postgresql step writes (postgresql.conf and conf.d/ includes, in order)."""
    return "\n".join(
        text for path, text in files(step).items() if path.endswith("postgresql.conf") or "/conf.d/" in path
    )


# ------------------------------------------------------------------------------------ PostgreSQL, wherever it is
# A single server writes postgresql.conf and pg_hba.conf (the `postgresql` step); a Patroni member writes its
# patroni.yml (the `patroni` step), from which Patroni renders both. The rules read the same settings from either.

DATABASE_KINDS = ("postgresql", "patroni")


class UnreadableConfig(ValueError):
    """A database step whose configuration cannot be read: its rules are not evaluated (never a pass)."""


def _patroni_document(step: ResourceView) -> Mapping[str, Any]:
    text = file_ending(step, ".yml") or file_ending(step, ".yaml")
    if not text:
        raise UnreadableConfig(f"patroni step on {step.get('host')} writes no Patroni configuration")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UnreadableConfig(f"patroni configuration on {step.get('host')} is not YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise UnreadableConfig(f"patroni configuration on {step.get('host')} is not a mapping")
    return document


def _section(document: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    for key in path:
        found = document.get(key) if isinstance(document, Mapping) else None
        document = found if isinstance(found, Mapping) else {}
    return document


def _pg_value(value: Any) -> str:
    # YAML 1.1 reads an unquoted `on`/`off` as a boolean: PostgreSQL's spelling is on/off.
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _patroni_listen(listen: Any) -> str:
    """Patroni's `postgresql.listen` ("addr1,addr2:5432") as listen_addresses ("addr1,addr2")."""
    text = str(listen or "")
    hosts, sep, port = text.rpartition(":")
    return hosts if sep and port.isdigit() else text


def database_settings(step: ResourceView) -> dict[str, str]:
    """PostgreSQL's server settings as the step makes them (listen_addresses included).

    Patroni: the cluster-wide parameters of bootstrap.dcs, overridden by the member's own postgresql.parameters
    (Patroni's precedence); listen_addresses from postgresql.listen.
    """
    if kind(step) == "postgresql":
        return settings(postgresql_conf(step))
    if kind(step) != "patroni":
        raise UnreadableConfig(f"{kind(step)} is not a database step")
    document = _patroni_document(step)
    found = {k: _pg_value(v) for k, v in _section(document, "bootstrap", "dcs", "postgresql", "parameters").items()}
    found.update({k: _pg_value(v) for k, v in _section(document, "postgresql", "parameters").items()})
    listen = _section(document, "postgresql").get("listen")
    if listen is None:
        raise UnreadableConfig(f"patroni configuration on {step.get('host')} has no postgresql.listen")
    found["listen_addresses"] = _patroni_listen(listen)
    return found


def database_hba(step: ResourceView) -> str:
    """The pg_hba.conf the step makes: the file itself, or Patroni's postgresql.pg_hba lines."""
    if kind(step) == "postgresql":
        return file_ending(step, "pg_hba.conf")
    document = _patroni_document(step)
    lines = _section(document, "postgresql").get("pg_hba")
    if not isinstance(lines, list) or not lines:
        # Without pg_hba Patroni leaves the package's file in place: nothing here says what it admits.
        raise UnreadableConfig(f"patroni configuration on {step.get('host')} sets no postgresql.pg_hba")
    return "\n".join(str(line) for line in lines)


PG_HBA_STRONG_METHODS = ("scram-sha-256", "cert", "reject")


def pg_hba_weak_lines(text: str) -> list[str]:
    """pg_hba lines over the network whose method is neither SCRAM, a client certificate nor `reject`."""
    weak = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0].startswith("host") and not _hba_method_ok(fields):
            weak.append(" ".join(fields))
    return weak


def _hba_method_ok(fields: list[str]) -> bool:
    # host* TYPE DATABASE USER ADDRESS [MASK] METHOD [OPTIONS]: the method is the first field after the address.
    rest = fields[4:]
    if rest and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", rest[0]):
        rest = rest[1:]  # an IPv4 mask column
    return bool(rest) and rest[0] in PG_HBA_STRONG_METHODS


# ------------------------------------------------------------------------------------------ the IaaS adapter
# Where each store, copy, key, listener and backup of a VM-only cloud lives, read from the host steps:
# hosts by their SSH address, iSCSI volumes by their portal, NFS shares by their server, the backup
# repository by the share mounted in the "backups" row. Places come from the residency registry by address.

DATA_KINDS = (
    "iscsi-attach",
    "luks",
    "filesystem",
    "postgresql",
    "patroni",
    "pgbackrest",
    "nfs-mount",
    "documents-backup",
)


def steps(stack: StackView) -> list[ResourceView]:
    return [r for r in stack.resources if kind(r) is not None]


def host_address(step: ResourceView) -> str | None:
    value = step.get("connection.address")
    return str(value) if value else None


def row(step: ResourceView) -> str | None:
    value = step.get("row") or spec_value(step, "row")
    return str(value) if value else None


def storage_address(step: ResourceView) -> str | None:
    """The address serving a volume or share: the iSCSI portal's IP, the NFS server."""
    if kind(step) == "iscsi-attach":
        portal = spec_value(step, "portal")
        return str(portal).rsplit(":", 1)[0] if portal else None
    if kind(step) == "nfs-mount":
        server = spec_value(step, "server")
        return str(server) if server else None
    return None


def site_of(address: str | None) -> tuple[str, str] | None:
    """(site, country) of an address through the residency registry; None when no site claims it."""
    if not address or address == UNKNOWN:
        return None
    site = residency.site_of_address(address)
    if site is None:
        return None
    return site, residency.IAAS_SITES[site]


def is_global(address: str) -> bool:
    """A public (globally routed) address or network: anything but private, shared and reserved space."""
    try:
        return ip_network(address, strict=False).is_global
    except ValueError:
        return True  # an unreadable source is treated as the world


def same_host(stack: StackView, step: ResourceView, wanted: str) -> list[ResourceView]:
    return [r for r in steps(stack) if kind(r) == wanted and r.get("host") == step.get("host")]


# ------------------------------------------------------------------------- the documents share's backup (restic)


def documents_backups(stack: StackView, share: ResourceView) -> list[ResourceView]:
    """The restic steps backing up the documents share that `share` (an nfs-mount step) mounts."""
    name = spec_value(share, "share")
    return [s for s in steps(stack) if kind(s) == "documents-backup" and spec_value(s, "share") == name]


def backs_up_its_mount(stack: StackView, backup: ResourceView) -> bool:
    """The backup's host mounts the documents share where the backup reads it (its source)."""
    return any(
        kind(m) == "nfs-mount"
        and row(m) == "documents"
        and spec_value(m, "share") == spec_value(backup, "share")
        and spec_value(m, "mount") == spec_value(backup, "source")
        for m in same_host(stack, backup, "nfs-mount")
    )


def repository_share(stack: StackView, backup: ResourceView) -> ResourceView | None:
    """The backup-row NFS mount on the backup's host that holds its repository (the longest mount prefix)."""
    repository = str(spec_value(backup, "repository") or "")
    holding = [
        m
        for m in same_host(stack, backup, "nfs-mount")
        if row(m) == "backups" and repository.startswith(str(spec_value(m, "mount") or "?").rstrip("/") + "/")
    ]
    return max(holding, key=lambda m: len(str(spec_value(m, "mount"))), default=None)


# The kinds of host steps the rules read (components/iaas, hosts/plan.py); a step of another kind fails closed.
STEP_KINDS = frozenset(
    [
        "packages",
        "firewall",
        "iscsi-attach",
        "luks",
        "filesystem",
        "nfs-mount",
        "postgresql",
        "pgbackrest",
        "documents-backup",
        "app-unit",
        "release",
        "load-balancer",
        "patroni",
        "etcd",
        "audit-rules",
        "log-shipping",
    ]
)


def _unknown_step(resource: ResourceView) -> str | None:
    if resource.type in STEP_TYPES and kind(resource) not in STEP_KINDS:
        return f"dynamic resource of kind {resource.get('kind')!r} is not an opcloud host step the rules read"
    return None


# The policy adapter the `iaas` cloud record names: its data lives in host steps the IaaS rules read by kind.
POLICY = CloudPolicy(data_stores=(), region_inputs=("site", "region"), unknown_reason=_unknown_step)
