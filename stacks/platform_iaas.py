"""The platform on a VM-only IaaS cloud (De Novo, MCloud): every part of DESIGN.md's table as host steps.

The plan (`hosts.plan`) lists each host's steps in order; each step becomes a `HostStep` resource in the
component of its row. Then each component takes the neutral Args, as on AWS and Azure, and names what plays each
role here: the site is the network, nftables rulesets are the firewalls, the LUKS key references are the key,
the NFS export is the document store, the db hosts are the endpoint, the pgBackRest repository is the backup vault.
"""

from __future__ import annotations

import pulumi
from opcloud.components.iaas.components import (
    IaasAppTier,
    IaasAudit,
    IaasBackups,
    IaasDatabase,
    IaasDocumentStore,
    IaasKeys,
    IaasNetwork,
    IaasPart,
    step_props,
)
from opcloud.hosts.plan import plan, stanza
from opcloud.hosts.runner import ROLLED_KIND
from opcloud.hosts.script import Row
from opcloud.stacks.platform import (
    PlatformOutputs,
    app_args,
    audit_args,
    backup_args,
    database_args,
    document_store_args,
    keys_args,
    network_args,
)

from opcloud.config.environment import Environment


def compose(environment: Environment) -> PlatformOutputs:
    inventory = environment.inventory
    assert inventory is not None
    prefix = environment.stack_prefix
    backup_share = next(s for s in inventory.nfs if s.purpose == "backup")
    repository = f"pgbackrest:{stanza(environment)}@{backup_share.server}:{backup_share.export} ({backup_share.site})"
    hosts = IaasPart("hosts", f"{prefix}-hosts")
    network = IaasNetwork(f"{prefix}-network")
    keys = IaasKeys(f"{prefix}-keys")
    documents = IaasDocumentStore(f"{prefix}-documents")
    database = IaasDatabase(f"{prefix}-database")
    backups = IaasBackups(f"{prefix}-backups", repository)
    app = IaasAppTier(f"{prefix}-app")
    audit = IaasAudit(f"{prefix}-audit", inventory.log_server or "local:/var/log/audit")
    parts: dict[Row, IaasPart] = {
        "hosts": hosts,
        "network": network,
        "keys": keys,
        "documents": documents,
        "database": database,
        "backups": backups,
        "app": app,
        "audit": audit,
    }

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
            resource = parts[step.row].add(step, props, waits, host_plan.host.roles)
            if step.kind == ROLLED_KIND:
                last_release = (step.id, resource)
            previous = [resource]

    hosts.finish({"row": pulumi.Output.from_input([h.name for h in inventory.hosts])})
    net = network.outputs(network_args(environment))
    key = keys.outputs(keys_args(environment))
    docs = documents.outputs(document_store_args(environment, key, net, None))
    db = database.outputs(database_args(environment, key, net))
    return PlatformOutputs(
        network=net,
        keys=key,
        documents=docs,
        database=db,
        backups=backups.outputs(backup_args(environment, key, [db.server_id, docs.store_id])),
        app=app.outputs(app_args(environment, key, net, None)),
        audit=audit.outputs(audit_args(environment, key)),
    )
