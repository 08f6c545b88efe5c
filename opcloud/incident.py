"""The three-hour incident report ProZorro's operators owe the administrator, drafted from a short input.

The fields are the ones the operators' rules list: the platform, the date and time, a description, which property
of information was violated (confidentiality, integrity, availability), whether the incident is external or
internal, its causes, its criticality, the module concerned and the actions taken. The report says when it is
due: three hours after the incident was detected.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from opcloud.errors import InputError, InputErrors

DEADLINE = timedelta(hours=3)
Property = Literal["confidentiality", "integrity", "availability"]


class Incident(BaseModel):
    """One incident as the report states it (camelCase keys in files and JSON, as everywhere in opcloud)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    platform: str = Field(min_length=1, description="the platform's name, e.g. ProZorro")
    detected_at: datetime = Field(description="when the incident was detected, ISO 8601 with its UTC offset")
    description: str = Field(min_length=1)
    properties_violated: list[Property] = Field(min_length=1, description="confidentiality, integrity, availability")
    origin: Literal["external", "internal"]
    causes: list[str] = Field(default_factory=list, description="known so far; 'under investigation' when none")
    criticality: Literal["low", "medium", "high", "critical"]
    module: str = Field(min_length=1, description="the part of the platform concerned, e.g. the public API")
    actions_taken: list[str] = Field(min_length=1)
    reporter: str | None = None

    @field_validator("detected_at")
    @classmethod
    def _with_offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2026-12-01T09:40+02:00")
        return value

    @property
    def due_at(self) -> datetime:
        return self.detected_at + DEADLINE

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        data["dueAt"] = self.due_at.isoformat()
        return data


def incident_from(fields: dict[str, Any], source: str) -> Incident:
    """Validate the fields; every problem at once, one line each, naming the field as written."""
    try:
        return Incident.model_validate(fields)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "incident"
            message = "missing" if item["type"] == "missing" else item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown field"
            lines.append(f"{source}: {where}: {message}")
        raise InputErrors(lines) from None


def read_incident(path: Path) -> dict[str, Any]:
    """The fields of an incident from a YAML or JSON file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: malformed YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: an incident is a mapping of fields (platform, detectedAt, description, ...)")
    return data


def to_markdown(incident: Incident) -> str:
    """The report as it is sent: every field, in the order the rules list them."""
    causes = incident.causes or ["under investigation"]
    lines = [
        f"# Incident report: {incident.platform}",
        "",
        f"- **Platform:** {incident.platform}",
        f"- **Detected:** {incident.detected_at.isoformat()}",
        f"- **Report due:** {incident.due_at.isoformat()} (three hours after detection)",
        f"- **Property violated:** {', '.join(incident.properties_violated)}",
        f"- **Origin:** {incident.origin}",
        f"- **Criticality:** {incident.criticality}",
        f"- **Module:** {incident.module}",
        "",
        "## Description",
        "",
        incident.description,
        "",
        "## Causes",
        "",
        *(f"- {cause}" for cause in causes),
        "",
        "## Actions taken",
        "",
        *(f"- {action}" for action in incident.actions_taken),
    ]
    if incident.reporter:
        lines += ["", f"Reported by {incident.reporter}."]
    return "\n".join(lines) + "\n"
