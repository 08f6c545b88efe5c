"""Test-stand lifecycle as pure functions: names, time-to-live, expiry and what the reaper destroys.

No Pulumi and no cloud here: `opcloud stand` and the stand program both call these, and the tests
check them directly.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opcloud.errors import InputError

STACK_PREFIX = "test-stand-"
# Stand names become DNS labels, VM names and parts of 24-character Key Vault/storage names.
NAME_MAX = 20
_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_TTL = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
TTL_MIN = timedelta(minutes=30)
TTL_MAX = timedelta(days=7)


def parse_ttl(text: str) -> timedelta:
    """'8h', '90m', '2d', '1d12h' -> timedelta; between 30 minutes and 7 days."""
    compact = text.strip().lower()
    position = 0
    total = timedelta()
    for match in _TTL.finditer(compact):
        if match.start() != position:
            break
        total += timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        position = match.end()
    if not compact or position != len(compact):
        raise InputError(f"bad TTL {text!r}: use minutes, hours or days such as 90m, 8h, 2d or 1d12h")
    if not TTL_MIN <= total <= TTL_MAX:
        raise InputError(f"TTL {text!r} is out of range: a stand lives between 30m and 7d")
    return total


def expiry(now: datetime, ttl: timedelta) -> datetime:
    """When a stand created at `now` expires, in UTC, to the second."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return (now + ttl).astimezone(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """ISO 8601 UTC with a Z, the form of the `expiry` tag: 2026-05-04T18:30:00Z."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An `expiry` tag back into an aware datetime; a time without a zone is refused, not guessed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"bad expiry time {text!r}: expected ISO 8601 such as 2026-05-04T18:30:00Z") from None
    if moment.tzinfo is None:
        raise InputError(f"expiry time {text!r} has no time zone: write it in UTC with a Z")
    return moment.astimezone(UTC)


def validate_name(name: str) -> str:
    """A stand name: lowercase letters, digits and hyphens, starts with a letter, at most 20 characters."""
    if len(name) > NAME_MAX:
        raise InputError(f"stand name {name!r} is longer than {NAME_MAX} characters")
    if not _NAME.match(name) or "--" in name:
        raise InputError(
            f"stand name {name!r} is not DNS-safe: use lowercase letters, digits and single hyphens, "
            "starting with a letter"
        )
    return name


def default_name(user: str, suffix: str | None = None) -> str:
    """`<user>-<4 random>`: the user part cleaned to DNS-safe and cut so the whole fits NAME_MAX."""
    suffix = suffix if suffix is not None else secrets.token_hex(2)
    cleaned = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", user.lower())).strip("-")
    cleaned = re.sub(r"^[^a-z]+", "", cleaned) or "stand"
    head = cleaned[: NAME_MAX - len(suffix) - 1].rstrip("-")
    return validate_name(f"{head}-{suffix}")


def current_user(environ: Mapping[str, str]) -> str:
    """Who is creating the stand: the CI actor when there is one, else the login name."""
    for key in ("GITHUB_ACTOR", "BUILD_USER_ID", "USER", "USERNAME"):
        if environ.get(key):
            return environ[key]
    return "stand"


def stack_name(stand: str) -> str:
    return f"{STACK_PREFIX}{validate_name(stand)}"


def stand_of_stack(stack: str) -> str | None:
    """The stand name of a Pulumi stack name (`org/project/test-stand-x` or `test-stand-x`), else None."""
    short = stack.rsplit("/", 1)[-1]
    if not short.startswith(STACK_PREFIX) or len(short) == len(STACK_PREFIX):
        return None
    return short[len(STACK_PREFIX) :]


@dataclass(frozen=True)
class Stand:
    """One deployed stand as `stand list` shows it; expiry None when it could not be read."""

    name: str
    owner: str | None
    expiry: datetime | None
    url: str | None = None
    resource_group: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "stack": stack_name(self.name),
            "owner": self.owner,
            "expiry": format_time(self.expiry) if self.expiry else None,
            "url": self.url,
            "resourceGroup": self.resource_group,
        }


def is_expired(stand: Stand, now: datetime) -> bool:
    """Expired from the expiry instant on; a stand whose expiry is unknown is never reaped blindly."""
    return stand.expiry is not None and stand.expiry <= now


def expired(stands: Iterable[Stand], now: datetime) -> list[Stand]:
    """The stands the reaper destroys at `now`, oldest expiry first."""
    return sorted((s for s in stands if is_expired(s, now)), key=lambda s: (s.expiry, s.name))
