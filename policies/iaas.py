"""IaaS host steps as the rules read them: `kind`, `host` and a typed `spec` (components/iaas/steps.py).

A step is a resource of the dynamic provider; its spec holds the files it manages, so the rules read
the very postgresql.conf, pg_hba.conf and systemd timers that land on the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.schedules import WEEKDAYS
from policies.model import ResourceView

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


def spec_value(resource: ResourceView, key: str) -> Any:
    return resource.get(f"spec.{key}")


def postgresql_conf(step: ResourceView) -> str:
    """The server settings a postgresql step writes (postgresql.conf and conf.d/ includes, in order)."""
    return "\n".join(
        text for path, text in files(step).items() if path.endswith("postgresql.conf") or "/conf.d/" in path
    )
