"""Reversible mapping of user-metadata keys a backend refuses.

Azure wants metadata names to be C# identifiers, so `tender-id` is refused there. Such a key is stored as
`opcx_` + the key with every character other than a letter or digit written `_XX` (its UTF-8 bytes in hex):
`tender-id` -> `opcx_tender_2did`. Reading it back gives `tender-id` again, so S3 -> Azure -> S3 keeps the
original names. A valid key that happens to start with `opcx_` is encoded too, so decoding is never ambiguous.
"""

from __future__ import annotations

import base64
import re

PREFIX = "opcx_"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_identifier(key: str) -> bool:
    return bool(_IDENTIFIER.match(key)) and not key.lower().startswith(PREFIX)


def encode(key: str) -> str:
    out = []
    for char in key:
        if char.isascii() and char.isalnum():
            out.append(char)
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode())
    return PREFIX + "".join(out)


def decode(key: str) -> str:
    if not key.lower().startswith(PREFIX):
        return key
    body, raw, i = key[len(PREFIX) :], bytearray(), 0
    while i < len(body):
        if body[i] == "_":
            raw.append(int(body[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(body[i].encode())
            i += 1
    return raw.decode()


def to_identifiers(metadata: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Metadata with every non-identifier key encoded, and the original keys that were mapped."""
    mapped: list[str] = []
    result: dict[str, str] = {}
    for key, value in metadata.items():
        if is_identifier(key):
            result[key] = value
        else:
            result[encode(key)] = value
            mapped.append(key)
    return result, mapped


def from_identifiers(metadata: dict[str, str]) -> dict[str, str]:
    return {decode(key): value for key, value in metadata.items()}


# Header-borne metadata (S3, Azure) must be ASCII: other values travel RFC 2047-encoded, as S3 itself
# returns them, and are decoded on the way back.
_ENCODED_VALUE = re.compile(r"^=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=$", re.IGNORECASE)


def encode_value(value: str) -> str:
    if value.isascii() and value.isprintable() and not _ENCODED_VALUE.match(value):
        return value
    return f"=?utf-8?b?{base64.b64encode(value.encode()).decode()}?="


def decode_value(value: str) -> str:
    match = _ENCODED_VALUE.match(value)
    if not match:
        return value
    return base64.b64decode(match.group(1)).decode()
