"""What the rules read of an Azure SQL Database stack: each verdict of a server or database, in one place.

A server's TDE protector, auditing and network; a database's retention, geo copy and failover group are each
separate resources pointing at the server (by `serverName`) or the database (`databaseName` + `serverName`).
A value the engine computes at preview time is "will be known", never a pass.
"""

from __future__ import annotations

from opcloud.policies import resources as res
from opcloud.policies.model import UNKNOWN, ResourceView, StackView, Verdict, pending, unevaluated

SHORT_TERM_MAX_DAYS = 35  # the service's point-in-time restore window
TLS_OK = ("1.2", "1.3")


def _of_server(stack: StackView, server: ResourceView, *types: str) -> list[ResourceView]:
    return stack.referencing(server, *types, prop="serverName")


def server_of(stack: StackView, database: ResourceView) -> ResourceView | None:
    found = [s for s in stack.of_type(*res.AZ_SQL) if stack.points_at(database, "serverName", s)]
    return found[0] if found else None


def _of_database(stack: StackView, database: ResourceView, *types: str) -> list[ResourceView]:
    """Policies naming this database (`databaseName`) on its server."""
    server = server_of(stack, database)
    name = database.get("databaseName")
    return [
        p
        for p in stack.of_type(*types)
        if server is not None and stack.points_at(p, "serverName", server) and p.get("databaseName") in (name, UNKNOWN)
    ]


def tde_with_our_key(stack: StackView, server: ResourceView) -> Verdict:
    """The TDE protector is a Key Vault key (ours), not the service-managed key."""
    protectors = _of_server(stack, server, *res.AZ_SQL_PROTECTOR)
    for protector in protectors:
        kind, key = protector.get("serverKeyType"), protector.get("serverKeyName")
        if UNKNOWN in (kind, key):
            return pending("the TDE protector's key")
        if kind == "AzureKeyVault" and key:
            return True, f"TDE protector: Key Vault key {key} ({protector.name})"
        return False, f"TDE protector {protector.name} is {kind or 'unset'}: the service-managed key, not ours"
    if server.get("keyId") == UNKNOWN:
        return pending("the server's TDE key")
    if server.get("keyId"):
        return True, f"TDE protector set at creation: {server.get('keyId')}"
    return False, "no TDE protector with our Key Vault key (EncryptionProtector AzureKeyVault or keyId)"


def tls_minimum(server: ResourceView) -> Verdict:
    version = server.get("minimalTlsVersion")
    if version == UNKNOWN:
        return pending("minimalTlsVersion")
    if version in TLS_OK:
        return True, f"minimalTlsVersion {version}"
    return False, f"minimalTlsVersion {version or 'unset'}: clients below TLS 1.2 are accepted"


def not_public(server: ResourceView) -> Verdict:
    access = server.get("publicNetworkAccess")
    if access == UNKNOWN:
        return pending("publicNetworkAccess")
    if access == "Disabled":
        return True, "public network access disabled (private endpoint only)"
    return False, f"publicNetworkAccess is {access or 'unset (Enabled)'}"


def audited(stack: StackView, server: ResourceView) -> Verdict:
    """Auditing on with the Azure Monitor target, and the master database's diagnostics sending it to a workspace."""
    policies = [p for p in _of_server(stack, server, *res.AZ_SQL_AUDITING) if p.get("state") == "Enabled"]
    if not policies:
        return False, "no server auditing policy with state Enabled"
    if not any(res.truthy(p.get("isAzureMonitorTargetEnabled")) for p in policies):
        return False, "auditing does not go to Azure Monitor (isAzureMonitorTargetEnabled)"
    settings = stack.referencing(server, *res.AZ_DIAGNOSTIC, prop="resourceUri")
    for setting in settings:
        if not str(setting.get("resourceUri", "")).endswith("/databases/master"):
            continue
        logs = [e for e in res.as_list(setting.get("logs")) if res.truthy((e or {}).get("enabled"))]
        if logs and setting.get("workspaceId"):
            return True, f"audited to Log Analytics through {setting.name}"
    if any(s.get("resourceUri") == UNKNOWN for s in settings):
        return pending("the target of the server's diagnostic setting (the master database or the server)")
    return False, "auditing enabled, but no diagnostic setting of the master database sends it to a workspace"


NO_SERVER = "the database's server is not in the stack: its retention policies cannot be read"


def short_term_days(stack: StackView, database: ResourceView) -> float | str | None:
    """Days of point-in-time restore: the policy's, the service default (7) without one; UNKNOWN at preview;
    None when the database's server is not in the stack (its policies cannot be found)."""
    if server_of(stack, database) is None:
        return None
    policies = _of_database(stack, database, *res.AZ_SQL_SHORT_RETENTION)
    if not policies:
        return 7.0
    value = policies[0].get("retentionDays")
    return UNKNOWN if value == UNKNOWN else res.number(value)


def daily_differential(stack: StackView, database: ResourceView) -> bool:
    """The database's short-term policy declares a differential backup every 12 or 24 hours (not declared: no)."""
    policies = _of_database(stack, database, *res.AZ_SQL_SHORT_RETENTION)
    hours = [res.number(p.get("diffBackupIntervalInHours", 12)) for p in policies]  # the service's default: 12
    return bool(hours) and all(h is not None and 0 < h <= 24 for h in hours)


def retention(stack: StackView, database: ResourceView, wanted: int) -> Verdict:
    """Short-term retention covers the environment's days (up to the service's 35), weekly long-term beyond."""
    kept = short_term_days(stack, database)
    if kept is None:
        return unevaluated(NO_SERVER)
    if kept == UNKNOWN:
        return pending("the short-term retention")
    floor = min(wanted, SHORT_TERM_MAX_DAYS)
    if not isinstance(kept, float) or kept < floor:
        return False, f"short-term retention {res.days(kept)} days, the environment asks {wanted}"
    weekly = [p.get("weeklyRetention") for p in _of_database(stack, database, *res.AZ_SQL_LONG_RETENTION)]
    if UNKNOWN in weekly:
        return pending("the weekly long-term retention")
    weeks = [_weeks(w) for w in weekly if w]
    if not any(weeks):
        return False, "no weekly long-term retention (LongTermRetentionPolicy weeklyRetention)"
    longest = max(w or 0 for w in weeks)
    if wanted > SHORT_TERM_MAX_DAYS and longest * 7 < wanted:
        return False, f"weekly backups kept {longest} weeks, the environment asks {wanted} days"
    return True, f"point-in-time restore over {res.days(kept)} days, weekly backups kept {longest} weeks"


def _weeks(duration: object) -> int | None:
    text = str(duration)
    if text.startswith("P") and text.endswith("W") and text[1:-1].isdigit():
        return int(text[1:-1])
    if text.startswith("P") and text.endswith("D") and text[1:-1].isdigit():
        return int(text[1:-1]) // 7
    return None


def failover_partners(stack: StackView, database: ResourceView) -> list[tuple[ResourceView | None, str | None]]:
    """(partner server, its region) of every failover group holding this database."""
    partners = []
    for group in stack.of_type(*res.AZ_SQL_FAILOVER):
        if not any(database in stack.resolve(d) for d in res.as_list(group.get("databases"))) and (
            database.urn not in group.refs.get("databases", ())
        ):
            continue
        for partner in res.as_list(group.get("partnerServers")):
            target, region = res.target_region(stack, (partner or {}).get("id"))
            partners.append((target, region))
    return partners
