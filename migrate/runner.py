"""Run a plan: check residency of every target first, then each pair by its kind (buckets, databases, ...).

A kind is a small record of functions (`PairKind`): buckets and databases are in `KINDS`, another kind is added
with `register(...)`, and plan/run/verify/status loop over every kind's pairs in plan order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opcloud.migrate.buckets import engine
from opcloud.migrate.buckets.state import StateDB, state_path
from opcloud.migrate.plan import BucketPair, Plan
from opcloud.migrate.residency import check_within
from opcloud.migrate.sizes import parse_size
from opcloud.migrate.stores.url import parse

from opcloud import residency
from opcloud.errors import InputError, ResidencyError

Action = Callable[[Plan, Any, bool], dict[str, Any]]  # (plan, pair, progress) -> JSON-ready report with "ok"


@dataclass(frozen=True)
class PairKind:
    field: str  # the plan's list holding these pairs
    check_residency: Callable[[Plan, Any], None]
    plan: Action  # what would be done (a dry run: nothing written)
    run: Action
    verify: Action
    status: Action


@dataclass
class PlanReport:
    plan: str
    action: str
    jurisdiction: str | None
    pairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(pair["report"].get("ok", False) for pair in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "plan",
            "ok": self.ok,
            "plan": self.plan,
            "action": self.action,
            "jurisdiction": self.jurisdiction,
            "pairs": self.pairs,
        }


def _state_dir(plan: Plan) -> Path:
    # load_plan always fills it in; a Plan built another way must say where its state lives.
    if plan.state_dir is None:
        raise InputError(f"plan {plan.name}: no state directory")
    return plan.state_dir


def _options(plan: Plan, pair: BucketPair, progress: bool, dry_run: bool = False) -> engine.CopyOptions:
    return engine.CopyOptions(
        state_dir=_state_dir(plan),
        transfers=plan.transfers,
        part_size=parse_size(pair.part_size),
        memory=parse_size(plan.memory),
        bwlimit=parse_size(plan.bwlimit) if plan.bwlimit else None,
        include=pair.include,
        exclude=pair.exclude,
        delete=pair.delete,
        dry_run=dry_run,
        read_back=plan.read_back,
        check_metadata=plan.check_metadata,
        progress=progress,
        jurisdiction=plan.jurisdiction,
        state_database=plan.state_database,
    )


def _bucket_residency(plan: Plan, pair: BucketPair) -> None:
    if plan.jurisdiction:
        try:
            check_within(plan.jurisdiction, [pair.target])
        except ResidencyError as error:
            raise ResidencyError(f"buckets.{pair.name}: {error}") from None


def pair_status(state_dir: Path, source_url: str, target_url: str) -> dict[str, Any]:
    """What the state records of one pair's copy: objects, verified, bytes, uploads in flight."""
    source, target = parse(source_url).redacted(), parse(target_url).redacted()
    path = state_path(state_dir, source, target)
    if not path.exists():
        return {"ok": False, "state": None, "objects": 0, "verified": 0, "bytes": 0, "uploadsInFlight": 0}
    state = StateDB(path, source, target, readonly=True)
    try:
        counts = state.counts()
    finally:
        state.close()
    return {
        "ok": counts["objects"] == counts["verified"] and not counts["uploadsInFlight"],
        "state": str(path),
        **counts,
    }


def _bucket_status(plan: Plan, pair: BucketPair, progress: bool) -> dict[str, Any]:
    if plan.state_database:
        return _record_status(plan.state_database, pair.source, pair.target)
    return pair_status(_state_dir(plan), pair.source, pair.target)


def _record_status(state_database: str, source_url: str, target_url: str) -> dict[str, Any]:
    """What the PostgreSQL state of record holds of one pair (a sharded run's state)."""
    from opcloud.migrate.buckets.pgstate import PgRecord

    source, target = parse(source_url).redacted(), parse(target_url).redacted()
    if not PgRecord.exists(state_database, source, target):
        return {"ok": False, "state": None, "objects": 0, "verified": 0, "bytes": 0, "uploadsInFlight": 0}
    record = PgRecord(state_database, source, target)
    try:
        counts = record.counts()
    finally:
        record.close()
    where = f"{record.schema} in {state_database}"
    return {"ok": counts["objects"] == counts["verified"] and not counts["uploadsInFlight"], "state": where, **counts}


@dataclass(frozen=True)
class Cluster:
    """Where a sharded run's workers are: a LocalCluster of `workers` processes, or a running scheduler."""

    workers: int | None = None
    scheduler: str | None = None


def _sharded_run(cluster: Cluster) -> Action:
    def run(plan: Plan, pair: BucketPair, progress: bool) -> dict[str, Any]:
        from opcloud.migrate.buckets import distributed
        from opcloud.migrate.buckets.shardprogress import ShardProgress

        with ShardProgress(enabled=progress, what=pair.name) as bar:
            return distributed.copy_sharded(
                pair.source, pair.target, _options(plan, pair, False), plan.shard_size,
                cluster.workers, cluster.scheduler, on_shard=bar.shard_done,
            )  # fmt: skip

    return run


BUCKETS = PairKind(
    field="buckets",
    check_residency=_bucket_residency,
    plan=lambda plan, pair, progress: engine.copy(
        pair.source, pair.target, _options(plan, pair, progress, True)
    ).to_dict(),
    run=lambda plan, pair, progress: engine.copy(pair.source, pair.target, _options(plan, pair, progress)).to_dict(),
    verify=lambda plan, pair, progress: engine.verify(
        pair.source, pair.target, plan.state_dir, plan.transfers, progress, pair.include, pair.exclude,
        plan.state_database,
    ).to_dict(),
    status=_bucket_status,
)


def check_database_residency(plan: Plan, pair: Any) -> None:
    """Databases declare where they lie (cloud+region or country) on their endpoints."""
    if not plan.jurisdiction:
        return
    target = pair.target
    country = target.country or (residency.country_of(target.cloud, target.region) if target.cloud else None)
    if country is None:
        raise ResidencyError(f"databases.{pair.name}: the target declares no country or cloud/region")
    if not residency.within(plan.jurisdiction, country.upper()):
        raise ResidencyError(f"databases.{pair.name}: target lies in {country}, outside {plan.jurisdiction}")


def _database_action(name: str) -> Action:
    """`migrate.databases.actions.<name>`, imported only when a plan has database pairs: it loads psycopg and
    paramiko (~0.3 s), which a plan of buckets never needs."""

    def call(plan: Plan, pair: Any, progress: bool) -> dict[str, Any]:
        from opcloud.migrate.databases import actions

        result: dict[str, Any] = getattr(actions, name)(plan, pair, progress)
        return result

    return call


DATABASES = PairKind(
    field="databases",
    check_residency=check_database_residency,
    plan=_database_action("plan_pair"),
    run=_database_action("run_pair"),
    verify=_database_action("verify_pair"),
    status=_database_action("status_pair"),
)

KINDS: list[PairKind] = [BUCKETS, DATABASES]


def register(kind: PairKind) -> None:
    """Add (or replace) the runner of a kind of pair."""
    KINDS[:] = [k for k in KINDS if k.field != kind.field] + [kind]


def _state_database_residency(plan: Plan) -> None:
    """The state of record holds every key of a pair: with a jurisdiction, it must lie inside too."""
    if not (plan.jurisdiction and plan.state_database):
        return
    from urllib.parse import urlsplit

    host = urlsplit(plan.state_database).hostname or ""
    country = (plan.state_database_country or "").upper() or residency.country_of_host(host)
    if country is None:
        raise ResidencyError(
            f"state_database: cannot tell where {host} lies: add state_database_country to check it for "
            f"{plan.jurisdiction}"
        )
    if not residency.within(plan.jurisdiction, country):
        raise ResidencyError(f"state_database: {host} lies in {country}, outside the jurisdiction {plan.jurisdiction}")


def check_residency(plan: Plan) -> None:
    _state_database_residency(plan)
    for kind in KINDS:
        for pair in getattr(plan, kind.field):
            kind.check_residency(plan, pair)


def execute(plan: Plan, action: str, progress: bool = True, cluster: Cluster | None = None) -> PlanReport:
    """`action` is plan, run, verify or status. Residency is checked for every pair before any pair runs (and
    before any worker of a sharded run starts). With `cluster`, `run` copies bucket pairs in shards over it."""
    if cluster is not None and action != "run":
        raise InputError("--workers and --scheduler apply to `run` only")
    if action in ("plan", "run"):
        check_residency(plan)
    report = PlanReport(plan=plan.name, action=action, jurisdiction=plan.jurisdiction)
    for kind in KINDS:
        for pair in getattr(plan, kind.field):
            act = _sharded_run(cluster) if cluster is not None and kind is BUCKETS else getattr(kind, action)
            result = act(plan, pair, progress)
            report.pairs.append({"kind": kind.field, "name": pair.name, "report": result})
    return report
