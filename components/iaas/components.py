"""The IaaS parts of DESIGN.md's table as ComponentResources, each holding one `HostStep` per host step.

The steps come from `hosts.plan` (the same plan `opcloud hosts apply` runs); each component takes the steps of
its row. Within a host the steps form a chain (`depends_on` the previous one), so the volume is attached before
LUKS, unlocked before the filesystem, mounted before PostgreSQL. A host's chain crosses rows, so every part is
declared first, the steps are added host by host, and then each part takes the same neutral Args as its AWS and
Azure peers (components/interfaces.py) and answers with the same neutral outputs, read from the steps it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from opcloud.components.iaas.provider import HostStep
from opcloud.components.interfaces import (
    AppTierArgs,
    AppTierOutputs,
    AuditArgs,
    AuditOutputs,
    BackupArgs,
    BackupOutputs,
    DatabaseArgs,
    DatabaseOutputs,
    DocumentStoreArgs,
    DocumentStoreOutputs,
    KeysArgs,
    KeysOutputs,
    NetworkArgs,
    NetworkOutputs,
)
from opcloud.hosts.plan import PG_PORT
from opcloud.hosts.script import Row, Step

from opcloud.config.environment import Environment, SecretRef, SshHost

COMPONENT_TYPES: dict[Row, str] = {
    "hosts": "opcloud:iaas:Hosts",
    "network": "opcloud:iaas:Network",
    "keys": "opcloud:iaas:Keys",
    "documents": "opcloud:iaas:DocumentStore",
    "database": "opcloud:iaas:Database",
    "backups": "opcloud:iaas:Backups",
    "app": "opcloud:iaas:AppTier",
    "audit": "opcloud:iaas:Audit",
}


class IaasPart(pulumi.ComponentResource):
    """One row of the table on an IaaS cloud: the host steps that make it, by host."""

    def __init__(self, row: Row, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPES[row], name, None, opts)
        self.row = row
        self.name = name
        self.steps: dict[str, HostStep] = {}  # "<host>/<step>" -> resource
        self.native = self.steps
        self._placed: dict[str, tuple[Step, str, frozenset[str]]] = {}  # step id -> (step, host address, roles)

    def add(
        self,
        step: Step,
        props: Mapping[str, Any],
        depends_on: Sequence[pulumi.Resource],
        roles: Sequence[str] = (),
    ) -> HostStep:
        resource = HostStep(
            f"{self.name}-{step.host}-{step.name}",
            dict(props),
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.steps[step.id] = resource
        self._placed[step.id] = (step, str(props["connection"]["address"]), frozenset(roles))
        return resource

    def held(self, kinds: Sequence[str] = (), roles: set[str] | None = None) -> list[tuple[Step, str, HostStep]]:
        """The steps of this part (of `kinds`, on hosts with one of `roles`), with their host's address."""
        return [
            (step, address, self.steps[step_id])
            for step_id, (step, address, host_roles) in self._placed.items()
            if (not kinds or step.kind in kinds) and (roles is None or roles & host_roles)
        ]

    def ids(self, kinds: Sequence[str] = (), roles: set[str] | None = None) -> pulumi.Output[str]:
        return pulumi.Output.all(*(r.id for _, _, r in self.held(kinds, roles))).apply(",".join)

    def finish(self, outputs: Mapping[str, Any]) -> None:
        self.register_outputs({**outputs, "steps": [r.id for r in self.steps.values()]})


class IaasNetwork(IaasPart):
    """The site's network: the hosts' addresses by tier and the nftables ruleset guarding each."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("network", name, opts)

    def outputs(self, args: NetworkArgs) -> NetworkOutputs:
        firewalls = self.held(["firewall"])
        db_hosts = {step.host for step, _, _ in self.held(["firewall"], {"db"})}
        app = self.ids(["firewall"], {"api", "docs"})
        outputs = NetworkOutputs(
            network_id=pulumi.Output.from_input(args.placement.region),  # the site
            public_subnet_ids=[],
            app_subnet_ids=[pulumi.Output.from_input(a) for s, a, _ in firewalls if s.host not in db_hosts],
            data_subnet_ids=[pulumi.Output.from_input(a) for s, a, _ in firewalls if s.host in db_hosts],
            firewall_ids={"public": app, "app": app, "data": self.ids(["firewall"], {"db"})},
        )
        self.finish({"row": outputs.network_id})
        return outputs


class IaasKeys(IaasPart):
    """The volumes' LUKS keys: their references (the values live in the secret store, never in state)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("keys", name, opts)

    def outputs(self, args: KeysArgs) -> KeysOutputs:
        refs = sorted({f"luks:{s.inputs['volume']}:{s.inputs['key']}" for s, _, _ in self.held(["luks"])})
        outputs = KeysOutputs(key_id=pulumi.Output.from_input(",".join(refs)), copy_key_id=None)
        self.finish({"row": outputs.key_id})
        return outputs


class IaasDocumentStore(IaasPart):
    """The documents' NFS export, mounted on the api and docs hosts."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("documents", name, opts)

    def outputs(self, args: DocumentStoreArgs) -> DocumentStoreOutputs:
        shares = sorted({f"{s.inputs['server']}:{s.inputs['export']}" for s, _, _ in self.held(["nfs-mount"])})
        outputs = DocumentStoreOutputs(
            store_name=pulumi.Output.from_input(",".join(shares)), store_id=self.ids(), replica_name=None
        )
        self.finish({"row": outputs.store_name})
        return outputs


class IaasDatabase(IaasPart):
    """PostgreSQL on the db hosts: one server, or a Patroni cluster whose clients list every member (libpq's
    target_session_attrs=read-write finds the primary)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("database", name, opts)

    def outputs(self, args: DatabaseArgs) -> DatabaseOutputs:
        servers = self.held(["patroni", "postgresql"])
        outputs = DatabaseOutputs(
            endpoint=pulumi.Output.from_input(",".join(address for _, address, _ in servers)),
            port=pulumi.Output.from_input(PG_PORT),
            server_id=self.ids(["patroni", "postgresql"]),
        )
        self.finish({"row": outputs.endpoint})
        return outputs


class IaasBackups(IaasPart):
    """pgBackRest and the documents' backup, into the repository on the backup share."""

    def __init__(self, name: str, repository: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("backups", name, opts)
        self.repository = repository  # "pgbackrest:<stanza>@<server>:<export> (<site>)"

    def outputs(self, args: BackupArgs) -> BackupOutputs:
        outputs = BackupOutputs(vault_id=pulumi.Output.from_input(self.repository), copy_vault_id=None)
        self.finish({"row": outputs.vault_id})
        return outputs


class IaasAppTier(IaasPart):
    """The releases on the api and docs hosts, behind the balancer pair's virtual address when there is one."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("app", name, opts)

    def outputs(self, args: AppTierArgs) -> AppTierOutputs:
        balancers = sorted({str(s.inputs["virtualAddress"]) for s, _, _ in self.held(["load-balancer"])})
        entry = balancers or list(dict.fromkeys(a for _, a, _ in self.held(roles={"api", "docs"})))
        outputs = AppTierOutputs(
            url=pulumi.Output.from_input(f"https://{args.domain}"),
            load_balancer_id=pulumi.Output.from_input(",".join(entry)),
            firewall_id=args.network.firewall_ids["app"],
        )
        self.finish({"row": outputs.url})
        return outputs


class IaasAudit(IaasPart):
    """auditd rules on every host, shipped to the log server when the environment names one."""

    def __init__(self, name: str, log_store: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("audit", name, opts)
        self.log_store = log_store

    def outputs(self, args: AuditArgs) -> AuditOutputs:
        outputs = AuditOutputs(
            log_store_id=pulumi.Output.from_input(self.log_store), trail_id=self.ids(["audit-rules"])
        )
        self.finish({"row": outputs.log_store_id})
        return outputs


def _config_secret(ref: SecretRef) -> pulumi.Output[str]:
    """A `config:` reference's value as a secret input ("" when unset: the provider then says which key)."""
    assert ref.config is not None
    namespace, _, key = ref.config.partition(":")
    value = pulumi.Config(namespace).get_secret(key)
    return pulumi.Output.secret(value if value is not None else "")


def connection(environment: Environment, host: SshHost) -> dict[str, Any]:
    inventory = environment.inventory
    assert inventory is not None
    key = host.key or inventory.ssh_key
    assert key is not None
    spec: dict[str, Any] = {
        "name": host.name,
        "address": str(host.address),
        "port": host.port,
        "user": host.user,
        "key": key.model_dump(exclude_none=True),
        "knownHosts": inventory.known_hosts,
    }
    if host.bastion:
        bastion = inventory.bastion(host.bastion)
        bastion_key = bastion.key or inventory.ssh_key
        assert bastion_key is not None
        spec["bastion"] = {
            "name": bastion.name,
            "address": bastion.address,
            "port": bastion.port,
            "user": bastion.user,
            "key": bastion_key.model_dump(exclude_none=True),
        }
    return spec


def step_props(environment: Environment, host: SshHost, step: Step) -> dict[str, Any]:
    """The inputs of a step's resource: what it does (spec, scripts) and how to reach its host."""
    inventory = environment.inventory
    assert inventory is not None
    refs = [host.key or inventory.ssh_key, *step.secrets.values()]
    if host.bastion:
        refs.append(inventory.bastion(host.bastion).key or inventory.ssh_key)
    secret_config = {ref.config: _config_secret(ref) for ref in refs if ref is not None and ref.config}
    return {
        "host": step.host,
        "step": step.name,
        "kind": step.kind,
        "row": step.row,
        "spec": dict(step.inputs),
        "check": step.check,
        "apply": step.apply,
        "secretRefs": {name: ref.model_dump(exclude_none=True) for name, ref in step.secrets.items()},
        "secretConfig": secret_config,
        "connection": connection(environment, host),
    }
