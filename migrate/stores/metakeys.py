"""Reversible mapping of user-metadata keys and values onto what a service holds in its headers.

Keys: each service holds some keys as they are (`MetadataKeys.plain`): S3 lower-case header tokens (it lower-cases
every name), Azure lower-case C# identifiers (it compares names without case). Any other key is stored as
`opcx_` + the key with every character but `a-z0-9` written `_XX` (its UTF-8 bytes in hex): `tender-id` ->
`opcx_tender_2did` on Azure, `Owner` -> `opcx__4fwner` everywhere. A key that starts with `opcx_` is never plain,
so a user's own `opcx_note` is mapped too (`opcx_opcx_5fnote`) and decoding is never ambiguous. A stored name
that starts with `opcx_` but is not a valid mapping (written by someone else: `opcx_bad_zz`) is read as it is.

Values: header-borne metadata must be printable ASCII without surrounding blanks (HTTP trims them); any other
value travels RFC 2047-encoded (`=?utf-8?b?...?=`, as S3 itself returns such values), and so does a value that
already looks encoded, so every value comes back exactly.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

PREFIX = "opcx_"
_ESCAPED = re.compile(r"_([0-9a-f]{2})|([a-z0-9])")


@dataclass(frozen=True)
class MetadataKeys:
    """The keys a service holds as they are."""

    plain: re.Pattern[str]

    def is_plain(self, key: str) -> bool:
        return bool(self.plain.fullmatch(key)) and not key.startswith(PREFIX)

    def to_stored(self, metadata: dict[str, str]) -> dict[str, str]:
        return {(k if self.is_plain(k) else encode(k)): encode_value(v) for k, v in metadata.items()}

    def from_stored(self, stored: dict[str, str]) -> dict[str, str]:
        return {decode(k): decode_value(v) for k, v in stored.items()}

    def mapped(self, metadata: dict[str, str]) -> list[str]:
        """The keys of `metadata` stored under another name."""
        return [k for k in metadata if not self.is_plain(k)]


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
    """The user's key for a stored name; a name that is not one of our mappings is the key itself."""
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
    if value and value.isascii() and value.isprintable() and value == value.strip() and not _looks_encoded(value):
        return value
    return f"=?utf-8?b?{base64.b64encode(value.encode()).decode()}?="


def _looks_encoded(value: str) -> bool:
    return "=?" in value  # any encoded word, in any charset: ours or one a service or proxy would decode


def decode_value(value: str) -> str:
    match = _ENCODED_VALUE.fullmatch(value)
    if not match:
        return value
    try:
        return base64.b64decode(match.group(1), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value
