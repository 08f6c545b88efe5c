"""Reports of copies and verifications: plain dataclasses that serialize to JSON (`--json`) and print as tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opcloud.migrate.buckets.sameobject import Carried
from opcloud.migrate.stores.base import HASHED_WHILE_WRITTEN, SERVICE_DIGEST, TARGET_CHECKED

from opcloud.jsonstyle import camel, to_json


@dataclass
class Failure:
    key: str
    reason: str


@dataclass
class Planned:
    key: str
    action: str  # copy | verify | delete


@dataclass
class VerifyReport:
    source: str
    target: str
    objects: int = 0
    bytes: int = 0
    verified: int = 0  # the same object in full: bytes and every property the source holds
    verified_partially: int = 0  # matched in all the target can hold, but it cannot hold `not_carried`
    missing: list[str] = field(default_factory=list)
    mismatched: list[Failure] = field(default_factory=list)
    extra: int = 0  # objects in the target that are not in the source (reported, not an error)
    carried: list[str] = field(default_factory=list)  # properties compared besides key and bytes
    not_carried: list[str] = field(default_factory=list)  # properties of the source the target cannot hold

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched and self.verified == self.objects

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "verify", "ok": self.ok, **to_json(self)}


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
    # Both: bytes proven and every carried property compared (sameobject); failures land in `failed`.
    # Every verified object counts under its proof (each compares every carried property too; sameobject):
    verified_in_transit: int = 0  # the target checked a checksum we sent of every byte; properties by a HEAD
    verified_on_write: int = 0  # a file tree: our SHA-256 of the bytes as written, properties by a stat; not read back
    # The service's MD5 of what it stored (Azure Put Blob), listed with the properties, equals ours of the bytes sent.
    verified_by_service_digest: int = 0
    verified_read_back: int = 0  # read back from the target, our SHA-256 and the properties compared
    resent: int = 0  # read back different right after our write (damaged on the way) and sent again
    failed: list[Failure] = field(default_factory=list)
    refused: list[Failure] = field(default_factory=list)  # keys the target cannot hold faithfully: not written
    metadata_keys_mapped: list[str] = field(default_factory=list)  # renamed for the target, restored on return
    carried: list[str] = field(default_factory=list)  # properties carried and compared besides key and bytes
    not_carried: list[str] = field(default_factory=list)  # properties of the source the target cannot hold
    seconds: float = 0.0
    would: list[Planned] = field(default_factory=list)  # a dry run: the first 1,000 keys and what it would do

    @property
    def complete(self) -> bool:
        """Whether a verification checks all the source holds."""
        return Carried(tuple(self.carried), tuple(self.not_carried)).complete

    def count_proof(self, proof: str | None) -> None:
        """One more object verified under `proof` (a WriteResult.proof; None: it was read back)."""
        if proof == TARGET_CHECKED:
            self.verified_in_transit += 1
        elif proof == HASHED_WHILE_WRITTEN:
            self.verified_on_write += 1
        elif proof == SERVICE_DIGEST:
            self.verified_by_service_digest += 1
        else:
            self.verified_read_back += 1

    @property
    def proofs(self) -> dict[str, int]:
        """Verified objects per proof kind."""
        return {
            TARGET_CHECKED: self.verified_in_transit,
            HASHED_WHILE_WRITTEN: self.verified_on_write,
            SERVICE_DIGEST: self.verified_by_service_digest,
            "read-back": self.verified_read_back,
        }

    @property
    def verified(self) -> int:
        """Objects checked in full; where the target cannot hold all, none are (see verified_partially)."""
        return sum(self.proofs.values()) if self.complete else 0

    @property
    def verified_partially(self) -> int:
        return 0 if self.complete else sum(self.proofs.values())

    @property
    def ok(self) -> bool:
        # Every copied object was verified (failures land in failed), in full.
        return not self.failed and not self.refused and self.complete

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "copy",
            "ok": self.ok,
            "verified": self.verified,
            "verifiedPartially": self.verified_partially,
            "proofs": {camel(proof.replace("-", "_")): count for proof, count in self.proofs.items()},
            **to_json(self),
        }
