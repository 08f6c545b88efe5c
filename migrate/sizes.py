"""Sizes as people write them (`8M`, `64KiB`): a module of its own, so `migrate copy` parses its options without
loading the plan models (pydantic, yaml: ~0.15 s of start-up)."""

from __future__ import annotations

import re

from opcloud.errors import InputError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`8M`, `64KiB`, `1.5G`, `1000` -> bytes (binary multiples)."""
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"bad size {text!r}: use a number with an optional K, M, G or T suffix")
    factor = 1024 ** " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * factor)
