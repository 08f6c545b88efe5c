"""`opcloud migrate plan PLAN --offline`: everything a plan can be checked for with no credentials and no network.

Every pair's URLs and options (already validated when the plan loads), where each source and target lies (the
residency registry, from `?country=`, `?region=` or the endpoint's name), the plan's jurisdiction, and pairs that
would write into the same place. Whether the stores answer is a separate question: `opcloud migrate plan` without
`--offline` lists them.
"""

from __future__ import annotations

from typing import Any

from opcloud.migrate.plan import BucketPair, Plan
from opcloud.migrate.residency import country_of_store
from opcloud.migrate.runner import PlanReport, check_database_residency
from opcloud.migrate.stores.backends import BACKENDS
from opcloud.migrate.stores.url import StoreURL, parse

from opcloud import residency
from opcloud.errors import ResidencyError


def _place(url: StoreURL) -> tuple[str, str, str, str]:
    """Where a store writes: (scheme, endpoint or host, bucket/container/root, prefix)."""
    if BACKENDS[url.scheme].layout == "bucket":
        endpoint = url.params.get("endpoint") or url.params.get("account") or url.params.get("connection_env") or ""
        return url.scheme, endpoint, url.netloc_host, url.prefix
    root = url.path.rstrip("/") + "/"
    return url.scheme, url.netloc_host, "", root


def _overlaps(a: StoreURL, b: StoreURL) -> bool:
    *where_a, prefix_a = _place(a)
    *where_b, prefix_b = _place(b)
    return where_a == where_b and (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a))


def _bucket_pair(plan: Plan, pair: BucketPair, earlier: list[tuple[str, StoreURL]]) -> dict[str, Any]:
    source, target = parse(pair.source), parse(pair.target)
    problems = []
    source_country, target_country = country_of_store(source), country_of_store(target)
    if plan.jurisdiction:
        if target_country is None:
            problems.append("cannot tell where the target lies: add ?country=CC or ?region= to its URL")
        elif not residency.within(plan.jurisdiction, target_country):
            problems.append(f"the target lies in {target_country}, outside the jurisdiction {plan.jurisdiction}")
    problems += [f"writes where buckets.{name} writes" for name, other in earlier if _overlaps(target, other)]
    earlier.append((pair.name, target))
    return {
        "ok": not problems,
        "source": source.redacted(),
        "target": target.redacted(),
        "sourceCountry": source_country,
        "targetCountry": target_country,
        "problems": problems,
    }


def check_offline(plan: Plan) -> PlanReport:
    """The plan's checks that need nothing but the plan file; a report like the other plan actions'."""
    report = PlanReport(plan=plan.name, action="offline check", jurisdiction=plan.jurisdiction)
    targets: list[tuple[str, StoreURL]] = []
    for pair in plan.buckets:
        report.pairs.append({"kind": "buckets", "name": pair.name, "report": _bucket_pair(plan, pair, targets)})
    for database in plan.databases:
        try:
            check_database_residency(plan, database)
            problems = []
        except ResidencyError as error:
            problems = [str(error)]
        report.pairs.append({"kind": "databases", "name": database.name, "report": {"ok": not problems,
                                                                                     "problems": problems}})
    return report
