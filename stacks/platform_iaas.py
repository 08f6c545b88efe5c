"""The platform on a VM-only IaaS cloud (De Novo, MCloud): every part of DESIGN.md's table as host steps.

The plan (`components.iaas.plan`) lists each host's steps in order; each step becomes a `HostStep` resource
in the component of its row. The neutral outputs name what plays each role here: the site is the network,
nftables rulesets are the firewalls, the LUKS key reference is the key, the NFS export is the document
store, the db host is the endpoint, the pgBackRest repository is the backup vault.
"""

from __future__ import annotations

import pulumi
from opcloud.components.iaas.components import IaasPart, step_props
from opcloud.components.interfaces import (
    AppTierOutputs,
    AuditOutputs,
    BackupOutputs,
    DatabaseOutputs,
    DocumentStoreOutputs,
    KeysOutputs,
    NetworkOutputs,
)
from opcloud.hosts.plan import PG_PORT, plan, stanza
from opcloud.hosts.runner import ROLLED_KIND
from opcloud.hosts.script import Row
from opcloud.stacks.platform import PlatformOutputs

from opcloud.config.environment import Environment

ROWS: tuple[Row, ...] = ("hosts", "network", "keys", "documents", "database", "backups", "app", "audit")


def compose(environment: Environment) -> PlatformOutputs:
    inventory = environment.inventory
    assert inventory is not None
    prefix = environment.stack_prefix
    parts = {row: IaasPart(row, f"{prefix}-{row}") for row in ROWS}

    # Releases roll one host at a time, as `opcloud hosts apply` does: each host's release step also waits for
    # the previous host's, which succeeds only once its service answers the health path; a failure stops the rest.
    last_release: tuple[str, pulumi.Resource] | None = None
    for host_plan in plan(environment):
        previous: list[pulumi.Resource] = []
        for step in host_plan.steps:
            props = step_props(environment, host_plan.host, step)
            waits = list(previous)
            if step.kind == ROLLED_KIND:
                props["rollAfter"] = last_release[0] if last_release else ""
                waits += [last_release[1]] if last_release else []
            resource = parts[step.row].add(step, props, waits)
            if step.kind == ROLLED_KIND:
                last_release = (step.id, resource)
            previous = [resource]

    def ids(row: Row, kind: str | None = None, roles: set[str] | None = None) -> list[pulumi.Output[str]]:
        return [
            r.id
            for key, r in parts[row].steps.items()
            if (kind is None or key.endswith("/" + kind))
            and (roles is None or roles & set(inventory.host(key.split("/")[0]).roles))
        ]

    site = pulumi.Output.from_input(environment.region)
    app_firewalls = ids("network", "firewall", {"api", "docs"})
    db_firewalls = ids("network", "firewall", {"db"})
    network = NetworkOutputs(
        network_id=site,
        public_subnet_ids=[],
        app_subnet_ids=[pulumi.Output.from_input(str(h.address)) for h in inventory.hosts if "db" not in h.roles],
        data_subnet_ids=[pulumi.Output.from_input(str(h.address)) for h in inventory.hosts if "db" in h.roles],
        firewall_ids={
            "public": pulumi.Output.all(*app_firewalls).apply(",".join),
            "app": pulumi.Output.all(*app_firewalls).apply(",".join),
            "data": pulumi.Output.all(*db_firewalls).apply(",".join),
        },
    )
    key_refs = sorted({f"luks:{v.name}:{v.luks_key.describe()}" for v in inventory.iscsi})
    keys = KeysOutputs(key_id=pulumi.Output.from_input(",".join(key_refs)), copy_key_id=None)
    documents_share = next(s for s in inventory.nfs if s.purpose == "documents")
    documents = DocumentStoreOutputs(
        store_name=pulumi.Output.from_input(f"{documents_share.server}:{documents_share.export}"),
        store_id=pulumi.Output.all(*ids("documents")).apply(",".join),
        replica_name=None,
    )
    db_hosts = [h for h in inventory.hosts if "db" in h.roles]
    # With a Patroni cluster the clients list both hosts (libpq: target_session_attrs=read-write finds the primary).
    server = "patroni" if inventory.database_cluster else "postgresql"
    database = DatabaseOutputs(
        endpoint=pulumi.Output.from_input(",".join(str(h.address) for h in db_hosts)),
        port=pulumi.Output.from_input(PG_PORT),
        server_id=pulumi.Output.all(*(parts["database"].steps[f"{h.name}/{server}"].id for h in db_hosts)).apply(
            ",".join
        ),
    )
    backup_share = next(s for s in inventory.nfs if s.purpose == "backup")
    backups = BackupOutputs(
        vault_id=pulumi.Output.from_input(
            f"pgbackrest:{stanza(environment)}@{backup_share.server}:{backup_share.export} ({backup_share.site})"
        ),
        copy_vault_id=None,
    )
    app = AppTierOutputs(
        url=pulumi.Output.from_input(f"https://{environment.app.domain}"),
        load_balancer_id=pulumi.Output.from_input(
            str(inventory.load_balancers.virtual_address)
            if inventory.load_balancers
            else ",".join(str(h.address) for h in inventory.hosts if {"api", "docs"} & set(h.roles))
        ),
        firewall_id=pulumi.Output.all(*app_firewalls).apply(",".join),
    )
    audit = AuditOutputs(
        log_store_id=pulumi.Output.from_input(inventory.log_server or "local:/var/log/audit"),
        trail_id=pulumi.Output.all(*ids("audit", "audit-rules")).apply(",".join),
    )
    outputs = {
        "network": network.network_id,
        "keys": keys.key_id,
        "documents": documents.store_name,
        "database": database.endpoint,
        "backups": backups.vault_id,
        "app": app.url,
        "audit": audit.log_store_id,
        "hosts": pulumi.Output.from_input([h.name for h in inventory.hosts]),
    }
    for row, part in parts.items():
        part.finish({"row": outputs[row], "steps": [r.id for r in part.steps.values()]})
    return PlatformOutputs(network, keys, documents, database, backups, app, audit)
