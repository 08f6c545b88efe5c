"""Reports of copies and verifications: plain dataclasses that serialize to JSON (`--json`) and print as tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Failure:
    key: str
    reason: str


@dataclass
class VerifyReport:
    source: str
    target: str
    objects: int = 0
    bytes: int = 0
    verified: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[Failure] = field(default_factory=list)
    extra: int = 0  # objects in the target that are not in the source (reported, not an error)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched and self.verified == self.objects

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "verify", "ok": self.ok, **asdict(self)}


@dataclass
class CopyReport:
    source: str
    target: str
    dry_run: bool = False
    listed: int = 0  # objects in the source (after --include/--exclude)
    listed_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    unchanged: int = 0  # already in the target, copied and verified by an earlier run
    deleted: int = 0
    resumed_parts: int = 0  # parts of interrupted uploads that were not sent again
    server_side: int = 0
    verified_in_transit: int = 0  # the target checked our MD5 of every byte it received
    verified_read_back: int = 0  # read back from the target, our SHA-256 compared
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)  # keys the target cannot represent
    metadata_keys_mapped: list[str] = field(default_factory=list)  # renamed for the target, restored on return
    seconds: float = 0.0

    @property
    def verified(self) -> int:
        return self.verified_in_transit + self.verified_read_back

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped  # every copied object was verified: failures land in failed

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "copy", "ok": self.ok, "verified": self.verified, **asdict(self)}
