"""Reversible mapping of user-metadata keys and values onto what a service holds in its headers.

Keys: each service holds some keys as they are (`MetadataKeys.plain`): S3 lower-case header tokens (it lower-cases
every name), Azure lower-case C# identifiers (it compares names without case). Any other key is stored as
`opcx_` + the key with every character but `a-z0-9` written `_XX` (its UTF-8 bytes in hex): `tender-id` ->
`opcx_tender_2did` on Azure, `Owner` -> `opcx__4fwner` everywhere. The stored names that are such mappings are
listed in our own `opcloud_mapped` entry, and only those are decoded: a user's own `opcx_note` or `opcx_bad_zz`
(written by us or by anyone) is read as it is, and a plain key that a mapping would land on is mapped too, so no
two keys ever share a stored name.

Values: header-borne metadata must be printable ASCII without surrounding blanks (HTTP trims them); any other
value travels RFC 2047-encoded (`=?utf-8?b?...?=`, as S3 itself returns such values), and so does a value that
is itself in that form, so every value comes back exactly.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

PREFIX = "opcx_"
MAPPED_KEY = "opcloud_mapped"  # ours: the stored names that are mappings, comma-separated
# The data plane (obstore) takes attributes and user metadata in one mapping whose names it matches without case:
# a user's key spelled like one of its attributes would be sent as that header, so such keys are mapped.
ATTRIBUTE_NAMES = frozenset(
    {"content-type", "content-disposition", "cache-control", "content-language", "content-encoding", "storage-class"}
)
_ESCAPED = re.compile(r"_([0-9a-f]{2})|([a-z0-9])")


@dataclass(frozen=True)
class MetadataKeys:
    """The keys a service holds as they are."""

    plain: re.Pattern[str]

    def is_plain(self, key: str) -> bool:
        return bool(self.plain.fullmatch(key)) and key != MAPPED_KEY and key.lower() not in ATTRIBUTE_NAMES

    def names(self, metadata: dict[str, str]) -> dict[str, str]:
        """key -> stored name, no two alike: a plain key that another key's mapping would land on is mapped too
        (its own mapping is longer, so this ends)."""
        names = {key: (key if self.is_plain(key) else encode(key)) for key in metadata}
        while True:
            mapped = {name for key, name in names.items() if name != key}
            clashing = [key for key, name in names.items() if name == key and name in mapped]
            if not clashing:
                return names
            for key in clashing:
                names[key] = encode(key)

    def to_stored(self, metadata: dict[str, str]) -> dict[str, str]:
        names = self.names(metadata)
        stored = {names[k]: encode_value(v) for k, v in metadata.items()}
        mapped = sorted(name for key, name in names.items() if name != key)
        if mapped:
            stored[MAPPED_KEY] = ",".join(mapped)
        return stored

    def from_stored(self, stored: dict[str, str]) -> dict[str, str]:
        entries = dict(stored)
        mapped = set(entries.pop(MAPPED_KEY, "").split(","))
        return {(decode(k) if k in mapped else k): decode_value(v) for k, v in entries.items()}

    def mapped(self, metadata: dict[str, str]) -> list[str]:
        """The keys of `metadata` stored under another name."""
        return [key for key, name in self.names(metadata).items() if name != key]


# S3 lower-cases names; the rest of an HTTP token is safe.
S3_KEYS = MetadataKeys(re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+"))
# Azure: C# identifiers, compared without case (so only lower-case ones are plain).
AZURE_KEYS = MetadataKeys(re.compile(r"[a-z_][a-z0-9_]*"))


def encode(key: str) -> str:
    out = []
    for char in key:
        if char.isascii() and (char.islower() or char.isdigit()):
            out.append(char)
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode())
    return PREFIX + "".join(out)


def decode(name: str) -> str:
    """The user's key for a stored mapping (a malformed one, never ours, is kept as it is)."""
    if not name.startswith(PREFIX):
        return name
    body, raw, position = name[len(PREFIX) :], bytearray(), 0
    for match in _ESCAPED.finditer(body):
        if match.start() != position:
            return name
        raw.extend(bytes.fromhex(match.group(1)) if match.group(1) else match.group(2).encode())
        position = match.end()
    if position != len(body):
        return name
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return name


_ENCODED_VALUE = re.compile(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=", re.IGNORECASE)


def encode_value(value: str) -> str:
    if (
        value
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
        and not _ENCODED_VALUE.fullmatch(value)
    ):
        return value
    return f"=?utf-8?b?{base64.b64encode(value.encode()).decode()}?="


def decode_value(value: str) -> str:
    match = _ENCODED_VALUE.fullmatch(value)
    if not match:
        return value
    try:
        return base64.b64decode(match.group(1), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value
