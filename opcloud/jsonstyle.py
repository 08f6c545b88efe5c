"""One key style for every `--json`: camelCase, as Pulumi's own JSON (`pulumi stack output --json`).

Only the names opcloud chooses are converted (dataclass fields); keys that are data (tags, metadata, file
paths, resource inputs) are left exactly as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def camel(name: str) -> str:
    """`verified_in_transit` -> `verifiedInTransit`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_json(value: Any) -> Any:
    """A dataclass (recursively) as JSON-ready data with camelCase field names; dict keys are kept as data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {camel(field.name): to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value
