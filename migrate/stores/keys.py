"""Keys a backend cannot hold as they are: encoded reversibly, or refused by name.

The encoding is rclone's (lib/encoder): a character the service would change is replaced by a look-alike from
Unicode's fullwidth or control-picture blocks (backslash -> U+FF3C FULLWIDTH REVERSE SOLIDUS, a trailing `.` ->
U+FF0E FULLWIDTH FULL STOP, a trailing space -> U+2420 SYMBOL FOR SPACE, control characters -> U+2400 + code),
and a look-alike that was already in the key is quoted with U+201B (rclone's quote), so decoding is exact and
two keys never encode to one name. A store encodes when it names an object and decodes what it lists:
S3 -> Azure -> S3 gives back the original keys, and `docs\\a.pdf` and `docs/a.pdf` stay two objects on Azure
(which folds `\\` to `/`). What encoding cannot fix (too long, a name a file system refuses) is refused by name
before anything is written (`KeyRules.problem`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
QUOTE = "\u201b"  # SINGLE HIGH-REVERSED-9 QUOTATION MARK, rclone's quote
_CONTROL_PICTURES = 0x2400  # ␀ SYMBOL FOR NULL: + 0x00..0x1F
_REPLACE_ANYWHERE = {"\\": "\uff3c", "\x7f": "\u2421", **{chr(c): chr(_CONTROL_PICTURES + c) for c in range(0x20)}}
_REPLACE_AT_END = {".": "\uff0e", " ": "\u2420"}  # FULLWIDTH FULL STOP, SYMBOL FOR SPACE
_LOOK_ALIKES = {*_REPLACE_ANYWHERE.values(), *_REPLACE_AT_END.values(), QUOTE}
_ORIGINALS = {v: k for k, v in {**_REPLACE_ANYWHERE, **_REPLACE_AT_END}.items()}


@dataclass(frozen=True)
class KeyCodec:
    """rclone-style encoding of the characters a service changes (backslash, control characters, a trailing
    dot or space in a path segment)."""

    def encode(self, key: str) -> str:
        return "/".join(self._encode_segment(segment) for segment in key.split("/"))

    def decode(self, name: str) -> str:
        out, chars, i = [], name, 0
        while i < len(chars):
            char = chars[i]
            if char == QUOTE and i + 1 < len(chars):
                out.append(chars[i + 1])
                i += 2
                continue
            out.append(_ORIGINALS.get(char, char))
            i += 1
        return "".join(out)

    @staticmethod
    def _encode_segment(segment: str) -> str:
        out = []
        for index, char in enumerate(segment):
            if char in _LOOK_ALIKES:
                out.append(QUOTE + char)
            elif char in _REPLACE_ANYWHERE:
                out.append(_REPLACE_ANYWHERE[char])
            elif char in _REPLACE_AT_END and index == len(segment) - 1:
                out.append(_REPLACE_AT_END[char])
            else:
                out.append(char)
        return "".join(out)


def object_store_problem(name: str) -> str | None:
    """Why object_store (obstore) cannot name `name`, or None: it refuses empty, `.` and `..` segments and control
    characters, and folds a trailing `/` away (`x/` would land on `x`)."""
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        return "an empty, `.` or `..` path segment (or a trailing `/`): object_store folds or refuses it"
    if _CONTROL.search(name):
        return "an ASCII control character: object_store refuses it"
    return None


@dataclass(frozen=True)
class KeyRules:
    """What names a backend holds faithfully: its encoding, limits, and the names it folds together."""

    codec: KeyCodec | None = None
    max_bytes: int | None = None  # of the whole encoded name (UTF-8), after the store's prefix
    max_chars: int | None = None
    max_segments: int | None = None
    max_segment_bytes: int | None = None
    file_tree: bool = False  # no empty, `.` or `..` segments, no NUL; `a` and `a/b` cannot both exist
    reserved_first_segments: tuple[str, ...] = ()
    folds_case: bool = False  # e.g. a case-insensitive file system: `A` and `a` would be one file
    folds_unicode: bool = False  # e.g. a file system that normalises names to NFC/NFD
    object_store_paths: bool = False  # named only through object_store (object_store_problem)

    @property
    def renames(self) -> bool:
        """Whether a key's name in the target can differ from the key (encoded or folded): collisions possible."""
        return self.codec is not None or self.folds_case or self.folds_unicode

    def encode(self, key: str) -> str:
        return self.codec.encode(key) if self.codec else key

    def decode(self, name: str) -> str:
        return self.codec.decode(name) if self.codec else name

    def problem(self, key: str) -> str | None:
        """Why the target cannot hold `key` faithfully, or None. Called once per listed key: string searches in C
        where a split per key would do (a `.` segment is `/./` inside `/name/`)."""
        if not key:
            return "empty key"
        name = self.encode(key)
        size = len(name) if name.isascii() else len(name.encode())
        if self.max_bytes is not None and size > self.max_bytes:
            return f"name of {size} bytes, the target holds at most {self.max_bytes}"
        if self.max_chars is not None and len(name) > self.max_chars:
            return f"name of {len(name)} characters, the target holds at most {self.max_chars}"
        if self.max_segments is not None and name.count("/") + 1 > self.max_segments:
            return f"{name.count('/') + 1} path segments, the target holds at most {self.max_segments}"
        if self.max_segment_bytes is not None and size > self.max_segment_bytes:  # no segment is longer than all
            longest = max(len(s.encode()) for s in name.split("/"))
            if longest > self.max_segment_bytes:
                return f"a path segment of {longest} bytes, the file system holds at most {self.max_segment_bytes}"
        if self.file_tree:
            wrapped = f"/{name}/"
            if "//" in wrapped or "/./" in wrapped or "/../" in wrapped or "\0" in name:
                return "empty, `.` or `..` path segment, or a NUL byte: no file path"
            first = name.partition("/")[0]
            if first in self.reserved_first_segments:
                return f"{first!r} is reserved for opcloud's own files"
        if self.object_store_paths:
            return object_store_problem(name)
        return None

    def collision_key(self, key: str) -> str:
        """The name the target would really store: two keys with one collision key would be one object."""
        name = self.encode(key)
        if self.folds_unicode:
            name = unicodedata.normalize("NFC", name)
        if self.folds_case:
            name = name.casefold()
        return name
