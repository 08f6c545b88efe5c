"""What "the same object" means, in one place: used by the copy, by rerun change detection and by `verify`.

Two objects are the same when they have the same key (byte for byte; a store encodes names it cannot hold and
decodes them when listing, see migrate/stores/keys.py), the same bytes (our SHA-256), the same content type, the
same system headers (SYSTEM_HEADERS) and the same user metadata. Each backend declares in a `Features` record
which of these properties it can hold; a copy carries, and a verification compares, every property both sides
hold. Plain data and functions: no SDK is imported here, so another data plane (obstore) can use it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opcloud.migrate.stores.base import SHA256_KEY, ObjectInfo
from opcloud.migrate.stores.keys import KeyRules
from opcloud.migrate.stores.metakeys import MetadataKeys

# System headers by their lower-case HTTP names, as ObjectInfo.headers holds them. Content type has a field of
# its own (ObjectInfo.content_type).
SYSTEM_HEADERS = ("content-disposition", "cache-control", "content-language", "content-encoding")
CONTENT_MD5 = "content-md5"  # base64, as HTTP sends it; held by Azure only (S3 does not keep it)

# Every property of an object besides its key and bytes, in report order.
PROPERTIES = ("content-type", *SYSTEM_HEADERS, CONTENT_MD5, "metadata")


@dataclass(frozen=True)
class Features:
    """What a backend can hold, and how its listing shows changes."""

    holds: frozenset[str]  # names from PROPERTIES
    keys: KeyRules
    # The listing shows a change of metadata or headers (S3 LastModified, Azure's ETag); otherwise only
    # `--check-metadata` (a HEAD per object) sees one.
    listing_sees_metadata_changes: bool
    metadata_keys: MetadataKeys | None = None  # how user-metadata keys are stored; None: as they are


ALL_PROPERTIES = frozenset(PROPERTIES)
WITHOUT_MD5 = ALL_PROPERTIES - {CONTENT_MD5}


@dataclass(frozen=True)
class Carried:
    """Per pair: the properties a copy carries and compares, and those of the source the target cannot hold."""

    carried: tuple[str, ...]
    not_carried: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether a verification of this pair checks everything the source holds. Content-MD5 is a function of
        the bytes, which are always checked (SHA-256), so a target without it still gets a full check."""
        return all(prop == CONTENT_MD5 for prop in self.not_carried)


def carried(source: Features, target: Features) -> Carried:
    return Carried(
        carried=tuple(p for p in PROPERTIES if p in source.holds and p in target.holds),
        not_carried=tuple(p for p in PROPERTIES if p in source.holds and p not in target.holds),
    )


def user_metadata(info: ObjectInfo) -> dict[str, str]:
    """The user's metadata, without our own SHA-256."""
    return {k: v for k, v in (info.metadata or {}).items() if k != SHA256_KEY}


def headers_to_carry(info: ObjectInfo, target: Features) -> dict[str, str]:
    """The source's system headers the target can hold (only those that are set)."""
    return {name: value for name, value in (info.headers or {}).items() if name in target.holds and value}


def _value(info: ObjectInfo, prop: str) -> object:
    if prop == "content-type":
        return info.content_type or None
    if prop == "metadata":
        return user_metadata(info)
    return (info.headers or {}).get(prop) or None


# Properties a service fills in when none is given: a source without one has nothing the target could match.
_SERVICE_DEFAULTS = ("content-type", CONTENT_MD5)


def differences(expected: ObjectInfo, actual: ObjectInfo, compared: tuple[str, ...]) -> list[str]:
    """The properties in `compared` (from `carried`) on which `actual` differs from `expected`, described."""
    found = []
    for prop in compared:
        want, got = _value(expected, prop), _value(actual, prop)
        if want is None and prop in _SERVICE_DEFAULTS:
            continue  # nothing to carry: the target's own default (or the MD5 it computed) stands
        if want != got:
            found.append(_describe(prop, want, got))
    return found


def _describe(prop: str, want: object, got: object) -> str:
    if prop == "metadata" and isinstance(want, Mapping) and isinstance(got, Mapping):
        keys = sorted(set(want) ^ set(got) | {k for k in set(want) & set(got) if want[k] != got[k]})
        return f"metadata differs in {keys}"
    return f"{prop} {got!r} in the target, {want!r} in the source"
