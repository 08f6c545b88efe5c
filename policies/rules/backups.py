"""Backups: weekly full, daily differential, logs every 10 minutes or less, retention, PITR, a copy.

The geo-redundant copy goes to a second region of the jurisdiction. Where the jurisdiction has a
single region on the cloud (Azure in Ireland: northeurope only; its pair westeurope is in NL), a
copy in another region would break residency, so zone-redundant storage (three data centres of the
region, ZRS) is the accepted copy there, and only there: the rule checks the registry each time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from opcloud.policies import iaas
from opcloud.policies import resources as res
from opcloud.policies.model import (
    A_8_13,
    ResourceView,
    Severity,
    StackContext,
    StackView,
    Verdict,
    pending,
    resource_rule,
    stack_rule,
    unevaluated,
)

from opcloud import residency
from opcloud.schedules import WEEKDAYS

_DAY_NAMES = {day[:3].upper(): day for day in WEEKDAYS}  # "SUN" -> "sunday"
_DAY_ORDER = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron's 1-7
AZ_ZONE_SKUS = ("Standard_ZRS", "Premium_ZRS")
RDS_MAX_RETENTION = 35  # RDS keeps automated backups at most 35 days; AWS Backup keeps the rest
AZ_PG_MAX_RETENTION = 35


def cron_days(expression: str) -> set[str] | None:
    """Weekdays an AWS `cron(m h dom mon dow year)` fires on; None if it cannot be read."""
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        return None
    fields = match.group(1).split()
    if len(fields) != 6:
        return None
    dom, dow = fields[2], fields[4]
    if dow in ("*", "?"):
        return set(WEEKDAYS) if dom in ("*", "?") else None
    days: set[str] = set()
    for part in dow.upper().split(","):
        low, _, high = part.partition("-")
        names = [_DAY_ORDER[int(x) - 1] if x.isdigit() else x[:3] for x in (low, high or low)]
        if names[0] not in _DAY_ORDER or names[1] not in _DAY_ORDER:
            return None
        i, j = _DAY_ORDER.index(names[0]), _DAY_ORDER.index(names[1])
        days.update(_DAY_NAMES[_DAY_ORDER[k]] for k in range(i, j + 1))
    return days


def iso_days(duration: Any) -> int | None:
    """Days in an ISO 8601 duration (`P35D`, `P5W`, `P1Y`), months and years taken at their shortest."""
    match = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", str(duration))
    if not match or not any(match.groups()):
        return None
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    return years * 365 + months * 28 + weeks * 7 + days


def _schedule_verdict(weekly: set[str], daily: set[str], wanted: str) -> Verdict:
    if wanted not in weekly:
        return False, f"no weekly full backup on {wanted}"
    missing = [d for d in WEEKDAYS if d != wanted and d not in daily]
    if missing:
        return False, f"no daily (differential) backup on {', '.join(missing)}"
    return True, f"weekly full on {wanted}, daily differential on the other days"


def _aws_plan_days(plan: ResourceView) -> tuple[set[str], set[str]]:
    weekly: set[str] = set()
    daily: set[str] = set()
    for rule in res.as_list(plan.get("rules")):
        days = cron_days(str((rule or {}).get("schedule", "")))
        if not days:
            continue
        (weekly if len(days) == 1 else daily).update(days)
    return weekly, daily


def _azure_policy_days(policy: ResourceView) -> tuple[set[str], set[str]]:
    weekly: set[str] = set()
    daily: set[str] = set()
    for rule in res.as_list(policy.get("properties.policyRules")):
        schedule = (((rule or {}).get("trigger") or {}).get("schedule")) or {}
        for interval in res.as_list(schedule.get("repeatingTimeIntervals")):
            match = re.fullmatch(r"R/(\d{4}-\d{2}-\d{2})T[^/]+/(P1W|P1D)", str(interval))
            if not match:
                continue
            if match.group(2) == "P1D":
                daily.update(WEEKDAYS)
            else:
                weekly.add(WEEKDAYS[date.fromisoformat(match.group(1)).weekday()])
    return weekly, daily


def _pgbackrest_days(step: ResourceView) -> tuple[set[str], set[str]]:
    """pgBackRest's systemd timers: the full one weekly, the differential one on the other days."""
    full = iaas.calendar_days(iaas.file_ending(step, "pgbackrest-full.timer"))
    diff = iaas.calendar_days(iaas.file_ending(step, "pgbackrest-diff.timer"))
    return (full if len(full) == 1 else set()), diff


def _postgres_archiving(step: ResourceView) -> tuple[bool, int | None]:
    """(archive_mode on, archiving to pgBackRest; archive_timeout in seconds) of a self-managed PostgreSQL.

    Raises iaas.UnreadableConfig when the step's configuration cannot be read.
    """
    conf = iaas.database_settings(step)
    archiving = conf.get("archive_mode") in ("on", "always") and "pgbackrest" in conf.get("archive_command", "")
    timeout = conf.get("archive_timeout", "")
    return archiving, int(timeout) if timeout.isdigit() else None


def _azure_daily(stack: StackView) -> bool:
    """Every Azure PostgreSQL server keeps its automatic daily snapshots (retention >= 1 day)."""
    servers = stack.of_type(*res.AZ_PG)
    return bool(servers) and all(_at_least(s.get("backup.backupRetentionDays", 7), 1) for s in servers)


def _platform(stack: StackView) -> bool:
    return stack.context.program == "platform"


@stack_rule(
    name="backup-schedule",
    description="A weekly full backup on the environment's day and a daily differential on the other days.",
    control=A_8_13,
    severity=Severity.HIGH,
    remediation="Give the backup plan (AWS Backup / Data Protection policy / pgBackRest timers) the schedule of "
    "components.schedules for the environment's backup settings.",
    not_applicable={"program:test-stand": "the test stand holds no platform data: no database, no backups"},
)
def backup_schedule(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    ctx = stack.context
    if not _platform(stack):
        return
    if ctx.backup is None:
        yield None, False, "the stack's backup policy is unknown: cannot show the schedule"
        return
    plans = [(p, _aws_plan_days(p)) for p in stack.of_type(*res.BACKUP_PLAN)]
    plans += [(p, _azure_policy_days(p)) for p in stack.of_type(*res.AZ_BACKUP_POLICY)]
    plans += [(p, _pgbackrest_days(p)) for p in stack.resources if iaas.kind(p) == "pgbackrest"]
    if not plans:
        yield None, False, "no backup plan or policy in the stack"
        return
    weekly = set().union(*(w for _, (w, _) in plans))
    daily = set().union(*(d for _, (_, d) in plans))
    ok, message = _schedule_verdict(weekly, daily, ctx.backup.full_weekday)
    if not ok and weekly and _azure_daily(stack):
        # Flexible Server snapshots itself daily (its own backups, beside the vault's weekly full).
        ok, message = _schedule_verdict(weekly, set(WEEKDAYS), ctx.backup.full_weekday)
        message += " (daily: the Flexible Server's own daily snapshot backups)"
    for plan, _ in plans:
        yield plan, ok, message


def _at_least(value: Any, floor: float) -> bool:
    n = res.number(value)
    return n is not None and n >= floor


def _db_log_shipping(resource: ResourceView) -> Verdict | None:
    if resource.type in res.RDS_INSTANCE or resource.type in res.RDS_CLUSTER:
        if _at_least(resource.get("backupRetentionPeriod", 0), 1):
            return True, "RDS automated backups: transaction logs shipped every 5 minutes"
        return False, "automated backups off (backupRetentionPeriod 0): no transaction-log backups"
    if resource.type in res.AZ_PG:
        if _at_least(resource.get("backup.backupRetentionDays", 7), 1):  # the service keeps 7 days when unset
            return True, "Flexible Server continuous WAL backup (every 5 minutes or less)"
        return False, "backup retention 0: no WAL backups"
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        try:
            archiving, timeout = _postgres_archiving(resource)
        except iaas.UnreadableConfig as error:
            return unevaluated(str(error))
        if not archiving:
            return False, "archive_mode off or archive_command not pgBackRest: no WAL backups"
        if timeout is None or timeout > 600:
            return False, f"archive_timeout {timeout or 'unset'}: a WAL segment may wait more than 10 minutes"
        return True, f"WAL archived by pgBackRest at least every {timeout // 60} minutes (archive_timeout {timeout})"
    return None


@resource_rule(
    name="backup-log-interval",
    description="Transaction logs are backed up every 10 minutes or less.",
    control=A_8_13,
    severity=Severity.HIGH,
    remediation="Keep backup.logIntervalMinutes between 5 and 10 and automated backups on (RDS retention >= 1, "
    "Azure backup retention, pgBackRest archive_timeout <= 600 s).",
    not_applicable={"program:test-stand": "the test stand holds no platform data: no database, no backups"},
)
def backup_log_interval(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    verdict = _db_log_shipping(resource)
    if verdict is None:
        return None
    ctx = stack.context
    if ctx.backup is not None and ctx.backup.log_interval_minutes > 10:
        return [(False, f"the environment asks for log backups every {ctx.backup.log_interval_minutes} minutes")]
    return [verdict]


@resource_rule(
    name="point-in-time-restore",
    description="Databases can be restored to any point in time within the retention window.",
    control=A_8_13,
    severity=Severity.HIGH,
    remediation="RDS: backupRetentionPeriod >= 1; Azure: backup.backupRetentionDays >= 7; IaaS: WAL archiving.",
    not_applicable={"program:test-stand": "the test stand holds no platform data: no database, no backups"},
)
def point_in_time_restore(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if resource.type in res.RDS_INSTANCE or resource.type in res.RDS_CLUSTER:
        kept = resource.get("backupRetentionPeriod", 0)
        if _at_least(kept, 1):
            return [(True, f"PITR over {res.days(kept)} days")]
        return [(False, "backupRetentionPeriod is 0: point-in-time restore is off")]
    if resource.type in res.AZ_PG:
        kept = resource.get("backup.backupRetentionDays", 7)
        if _at_least(kept, 7):
            return [(True, f"PITR over {res.days(kept)} days")]
        return [(False, f"backup.backupRetentionDays {res.days(kept)} below the service minimum of 7")]
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        try:
            archiving, _ = _postgres_archiving(resource)
        except iaas.UnreadableConfig as error:
            return [unevaluated(str(error))]
        if archiving:
            return [(True, "continuous WAL archiving to the pgBackRest repository")]
        return [(False, "no WAL archiving: point-in-time restore impossible")]
    return None


def _retention(resource: ResourceView, ctx: StackContext) -> Iterable[Verdict]:
    wanted = ctx.backup.retention_days if ctx.backup else None
    if wanted is None:
        yield False, "the stack's backup retention is unknown"
        return
    if resource.type in res.BACKUP_PLAN:
        for rule in res.as_list(resource.get("rules")):
            rule = rule or {}
            kept = (rule.get("lifecycle") or {}).get("deleteAfter")
            name = rule.get("ruleName", "?")
            if not _at_least(kept, wanted):
                yield False, f"rule {name} keeps backups {res.days(kept)} days, the environment asks {wanted}"
            for action in res.as_list(rule.get("copyActions")):
                copy_kept = ((action or {}).get("lifecycle") or {}).get("deleteAfter")
                if not _at_least(copy_kept, wanted):
                    yield False, f"rule {name}'s copy kept {res.days(copy_kept)} days, the environment asks {wanted}"
        yield True, f"every rule keeps backups at least {wanted} days"
    elif resource.type in res.AZ_BACKUP_POLICY:
        for rule in res.as_list(resource.get("properties.policyRules")):
            for lifecycle in res.as_list((rule or {}).get("lifecycles")):
                kept = iso_days(((lifecycle or {}).get("deleteAfter") or {}).get("duration"))
                if kept is None or kept < wanted:
                    yield False, f"retention rule {(rule or {}).get('name')} keeps {kept} days, wanted {wanted}"
        yield True, f"every retention rule keeps at least {wanted} days"
    else:
        key, limit = (
            ("backupRetentionPeriod", RDS_MAX_RETENTION)
            if resource.type in (*res.RDS_INSTANCE, *res.RDS_CLUSTER)
            else ("backup.backupRetentionDays", AZ_PG_MAX_RETENTION)
        )
        kept = resource.get(key, 0)
        floor = min(wanted, limit)
        if not _at_least(kept, floor):
            yield False, f"{key} {res.days(kept)}, the environment asks {wanted} (service limit {limit})"
        else:
            yield True, f"{key} {res.days(kept)} days"


@resource_rule(
    name="backup-retention",
    description="Backups are kept at least as long as the environment's retention.",
    control=A_8_13,
    severity=Severity.HIGH,
    remediation="Set the plan's lifecycle deleteAfter (and the copy's) to backup.retentionDays or more.",
    not_applicable={"program:test-stand": "the test stand holds no platform data: no database, no backups"},
)
def backup_retention(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if iaas.kind(resource) == "pgbackrest":
        return [_pgbackrest_retention(resource, stack.context)]
    if iaas.kind(resource) == "documents-backup":
        return [_restic_retention(resource, stack.context)]
    if resource.type not in (*res.BACKUP_PLAN, *res.AZ_BACKUP_POLICY, *res.databases()):
        return None
    verdicts = list(_retention(resource, stack.context))
    failures = [v for v in verdicts if not v[0]]
    return failures or verdicts[-1:]


def _pgbackrest_retention(step: ResourceView, ctx: StackContext) -> Verdict:
    wanted = ctx.backup.retention_days if ctx.backup else None
    conf = iaas.settings(iaas.file_ending(step, "pgbackrest.conf"))
    fulls = conf.get("repo1-retention-full", "")
    if wanted is None or not fulls.isdigit() or conf.get("repo1-retention-full-type", "count") != "count":
        return False, "repo1-retention-full (count of weekly fulls) cannot be shown to cover the retention"
    kept = int(fulls) * 7
    if kept < wanted:
        return False, f"{fulls} weekly fulls keep {kept} days, the environment asks {wanted}"
    return True, f"{fulls} weekly fulls kept: {kept} days"


def _restic_retention(step: ResourceView, ctx: StackContext) -> Verdict:
    """The `--keep-daily` of every `restic forget` in the script the units run (daily snapshots)."""
    wanted = ctx.backup.retention_days if ctx.backup else None
    script = "\n".join(text for path, text in iaas.files(step).items() if path.startswith("/usr/local/sbin/"))
    forgets = [line for line in script.splitlines() if "restic forget " in line]
    kept = [re.search(r"--keep-daily (\d+)", line) for line in forgets]
    if wanted is None or not forgets or not all(kept):
        return False, "restic forget --keep-daily cannot be shown to cover the retention"
    days = min(int(m.group(1)) for m in kept if m)
    if days < wanted:
        return False, f"restic keeps {days} daily snapshots, the environment asks {wanted} days"
    return True, f"restic keeps {days} daily snapshots"


def _zones_allowed(ctx: StackContext, cloud: str) -> Verdict:
    if ctx.geo_redundancy != "zones":
        return False, "the environment asks for a second region"
    if ctx.jurisdiction is None or ctx.region is None:
        return False, "zone redundancy needs a known jurisdiction and region"
    regions = residency.regions_within(cloud, ctx.jurisdiction)
    if regions != [ctx.region]:
        return False, f"zone redundancy is accepted only where {ctx.jurisdiction} has one region ({regions})"
    return True, f"{ctx.jurisdiction} has one {cloud} region ({ctx.region}): zone-redundant copy accepted"


def _second_region(region: str | None, ctx: StackContext, cloud: str, what: str) -> Verdict:
    if region == res.UNKNOWN:
        return pending(f"{what}: the region")
    if region is None:
        return False, f"{what}: region of the copy cannot be established"
    if region == ctx.region:
        return False, f"{what} stays in the primary region {region}"
    country = res.country(cloud, region)
    if ctx.jurisdiction and country and residency.within(ctx.jurisdiction, country):
        return True, f"{what} in {region} ({country})"
    return False, f"{what} in {region} ({country or 'unknown'}), outside {ctx.jurisdiction}"


def _primary_buckets(stack: StackView) -> list[ResourceView]:
    """Buckets holding platform data: not replicas, not log targets."""
    replicas = {
        bucket.urn
        for config in stack.of_type(*res.S3_REPLICATION)
        for bucket in stack.of_type(*res.S3_BUCKET)
        if not stack.points_at(config, "bucket", bucket)
        and any(
            stack.points_at(config, f"rules.{i}.destination.bucket", bucket)
            for i in range(len(res.as_list(config.get("rules"))))
        )
    }
    buckets = stack.of_type(*res.S3_BUCKET)
    logs = {b.urn for lg in stack.of_type(*res.S3_LOGGING) for b in buckets if stack.points_at(lg, "targetBucket", b)}
    logs |= {b.urn for tr in stack.of_type(*res.CLOUDTRAIL) for b in buckets if stack.points_at(tr, "s3BucketName", b)}
    logs |= {b.urn for lb in stack.of_type(*res.LB) for b in buckets if stack.points_at(lb, "accessLogs.bucket", b)}
    return [b for b in stack.of_type(*res.S3_BUCKET) if b.urn not in replicas | logs]


def _aws_copies(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    ctx = stack.context
    plans = stack.of_type(*res.BACKUP_PLAN)
    if not plans:
        yield None, False, "no AWS Backup plan: no backup copy"
    for plan in plans:
        copies = [
            _second_region(res.target_region(stack, a.get("destinationVaultArn"))[1], ctx, "aws", "backup copy")
            for rule in res.as_list(plan.get("rules"))
            for a in res.as_list((rule or {}).get("copyActions"))
            if isinstance(a, dict)
        ]
        if not copies:
            yield plan, False, "no copy action to a vault in a second region"
        for ok, message in copies:
            yield plan, ok, message
    for bucket in _primary_buckets(stack):
        configs = stack.referencing(bucket, *res.S3_REPLICATION, prop="bucket")
        destinations = [
            ((rule or {}).get("destination") or {}).get("bucket")
            for config in configs
            for rule in res.as_list(config.get("rules"))
            if str((rule or {}).get("status", "Enabled")) == "Enabled"
        ]
        if not destinations:
            yield bucket, False, "documents not replicated to a second region"
        for arn in destinations:
            _, region = res.target_region(stack, arn)
            yield (bucket, *_second_region(region, ctx, "aws", "replica"))


def _azure_copies(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    ctx = stack.context
    zones = _zones_allowed(ctx, "azure")
    pair = residency.azure_pair(ctx.region) if ctx.region else None
    geo = _second_region(pair, ctx, "azure", "paired-region copy")
    for account in stack.of_type(*res.AZ_STORAGE):
        sku = account.get("sku.name")
        if ctx.geo_redundancy == "zones":
            ok = zones[0] and sku in AZ_ZONE_SKUS
            yield account, ok, f"{sku}: {zones[1]}" if ok else f"{sku} is not zone-redundant storage ({zones[1]})"
        elif sku in res.AZ_GEO_SKUS:
            yield account, geo[0], f"{sku}: {geo[1]}"
        else:
            yield account, False, f"{sku} keeps no copy in a second region"
    for server in stack.of_type(*res.AZ_PG):
        if ctx.geo_redundancy == "zones":
            zoned = server.get("highAvailability.mode") == "ZoneRedundant"
            ok = zones[0] and zoned
            detail = "zone-redundant HA, backups on zone-redundant storage"
            yield server, ok, f"{detail}: {zones[1]}" if ok else f"not zone-redundant ({zones[1]})"
        elif res.truthy(server.get("backup.geoRedundantBackup")):
            yield server, geo[0], f"geo-redundant backup: {geo[1]}"
        else:
            yield server, False, "geoRedundantBackup is not Enabled"
    for vault in stack.of_type(*res.AZ_BACKUP_VAULT):
        kinds = {(s or {}).get("type") for s in res.as_list(vault.get("properties.storageSettings"))}
        if ctx.geo_redundancy == "zones":
            ok = zones[0] and "ZoneRedundant" in kinds
            yield vault, ok, f"ZoneRedundant vault storage: {zones[1]}" if ok else f"vault storage {kinds} ({zones[1]})"
        elif "GeoRedundant" in kinds:
            yield vault, geo[0], f"GeoRedundant vault storage: {geo[1]}"
        else:
            yield vault, False, f"vault storage {sorted(k for k in kinds if k)} is not geo-redundant"


@stack_rule(
    name="backup-geo-copy",
    description="Backups and documents have a copy in a second region of the jurisdiction (or, where the "
    "jurisdiction has a single region on the cloud, on zone-redundant storage).",
    control=A_8_13,
    severity=Severity.HIGH,
    remediation="Add a copy action / replication to the copy region; on Azure use GRS/geo backups where the "
    "pair is inside the jurisdiction and ZRS/zone-redundant HA where it is not.",
    not_applicable={"program:test-stand": "the test stand holds no platform data: no database, no backups"},
)
def backup_geo_copy(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    if not _platform(stack):
        return
    cloud = stack.context.cloud
    if cloud == "aws":
        yield from _aws_copies(stack)
    elif cloud == "azure":
        yield from _azure_copies(stack)
    elif cloud == "iaas":
        yield from _iaas_copies(stack)


def _iaas_copies(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    """The pgBackRest and restic repositories' shares must be served from another site of the country, by address."""
    ctx = stack.context
    for documents in (s for s in iaas.steps(stack) if iaas.kind(s) == "nfs-mount" and iaas.row(s) == "documents"):
        for ok, message in _documents_backup(documents, stack):
            yield documents, ok, message
    shares = [s for s in iaas.steps(stack) if iaas.kind(s) == "nfs-mount" and iaas.row(s) == "backups"]
    if not shares:
        yield None, False, "no backup share mounted: the pgBackRest repository has no second-site copy"
    for share in shares:
        address = iaas.storage_address(share)
        place = iaas.site_of(address)
        if place is None:
            yield share, None, f"backup share at {address}: no site of the residency registry routes this address"
            continue
        yield (share, *_second_region(place[0], ctx, "iaas", f"backup share at {address} (site {place[0]})"))


def _protected_by(target: ResourceView, stack: StackView) -> list[ResourceView]:
    hits = [s for s in stack.of_type(*res.BACKUP_SELECTION) if stack.points_at(s, "resources", target)]
    hits += [
        b
        for b in stack.of_type(*res.AZ_BACKUP_INSTANCE)
        if stack.points_at(b, "properties.dataSourceInfo.resourceID", target)
    ]
    return hits


@resource_rule(
    name="backup-coverage",
    description="Every database and document store is protected by the backup plan.",
    control=A_8_13,
    severity=Severity.HIGH,
    remediation="Add the store to the AWS Backup selection / a Data Protection backup instance.",
    needs_stack=True,
    not_applicable={"program:test-stand": "the test stand holds no platform data: no database, no backups"},
)
def backup_coverage(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if not _platform(stack):
        return None
    # Only buckets can be primary buckets: the stack-wide scan runs for them alone.
    if resource.type in res.databases() or (resource.type in res.S3_BUCKET and resource in _primary_buckets(stack)):
        hits = _protected_by(resource, stack)
        if hits:
            return [(True, f"protected by {res.names(hits)}")]
        return [(False, "not in any backup selection / backup instance")]
    if iaas.kind(resource) in iaas.DATABASE_KINDS:
        backups = iaas.same_host(stack, resource, "pgbackrest")
        if backups:
            return [(True, f"backed up by pgBackRest ({res.names(backups)})")]
        return [(False, f"no pgBackRest step on {resource.get('host')}: the database is not backed up")]
    if iaas.kind(resource) == "nfs-mount" and iaas.row(resource) == "documents":
        return _documents_backup(resource, stack)
    return None


def _documents_backup(share: ResourceView, stack: StackView) -> list[Verdict]:
    """An IaaS documents share is covered by a restic step that reads its mount and keeps its repository on a
    backup share served from another site of the country, by the share's address (the filer's own snapshots,
    if any, are invisible to the stack and count for nothing)."""
    what = f"documents share {iaas.storage_address(share)}:{iaas.spec_value(share, 'export')}"
    backups = iaas.documents_backups(stack, share)
    if not backups:
        return [(False, f"{what}: no restic backup step backs it up")]
    return [_documents_repository(backup, share, stack, what) for backup in backups]


def _documents_repository(backup: ResourceView, share: ResourceView, stack: StackView, what: str) -> Verdict:
    host = backup.get("host")
    if not iaas.backs_up_its_mount(stack, backup):
        return False, f"{what}: the backup on {host} does not read the share's mount"
    daily = iaas.calendar_days(
        iaas.file_ending(backup, f"opcloud-docs-backup-{iaas.spec_value(backup, 'share')}.timer")
    )
    if daily != set(WEEKDAYS):
        return False, f"{what}: the backup timer on {host} does not take a snapshot every day"
    repository = iaas.spec_value(backup, "repository")
    holder = iaas.repository_share(stack, backup)
    if holder is None:
        return False, f"{what}: restic repository {repository} on {host} is not on a mounted backup share"
    address = iaas.storage_address(holder)
    place = iaas.site_of(address)
    if place is None:
        return None, f"{what}: repository share at {address}: no site of the residency registry routes this address"
    source = iaas.site_of(iaas.storage_address(share))
    if source is not None and source[0] == place[0]:
        return False, f"{what}: restic repository at {address} is at the share's own site {place[0]}"
    ok, message = _second_region(place[0], stack.context, "iaas", f"restic repository at {address} (site {place[0]})")
    return ok, f"{what}: backed up by restic on {host}; {message}"


RULES = (
    backup_schedule,
    backup_log_interval,
    point_in_time_restore,
    backup_retention,
    backup_geo_copy,
    backup_coverage,
)
