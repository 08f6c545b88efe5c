"""Redundancy on VM-only clouds (issue 19): production runs its database as a Patroni cluster with a standby
and a quorum of etcd members, and its entry point as a load-balancer pair sharing one virtual address."""

from __future__ import annotations

from collections.abc import Iterator

from opcloud.policies import iaas
from opcloud.policies.model import A_8_14, ResourceView, Severity, StackView, stack_rule

ETCD_QUORUM = 3  # the smallest etcd cluster that keeps a majority after losing one member


def _hosts(steps: list[ResourceView]) -> list[str]:
    return sorted({str(s.get("host")) for s in steps})


@stack_rule(
    name="iaas-high-availability",
    description="A production IaaS stack has a database standby (Patroni on two hosts, etcd with a quorum of "
    "three) and a load-balancer pair sharing one virtual address.",
    control=A_8_14,
    severity=Severity.HIGH,
    remediation="Give the inventory a databaseCluster (two db hosts and a witness) and loadBalancers (two lb hosts "
    "and a virtual address).",
    not_applicable={
        "aws": "RDS Multi-AZ and the ALB across zones are judged by rds-hardening and the load-balancer rules",
        "azure": "Flexible Server zone redundancy and the Application Gateway are managed services",
        "non-production": "only production must survive the loss of a host",
        "program:test-stand": "the test stand runs no database and no balancer",
    },
)
def iaas_high_availability(stack: StackView) -> Iterator[tuple[ResourceView | None, bool | None, str]]:
    if not stack.context.production:
        return  # reported not applicable (non-production)
    steps = iaas.steps(stack)
    if not steps:
        return  # nothing to judge: the rule stays incomplete
    patroni = [s for s in steps if iaas.kind(s) == "patroni"]
    single = [s for s in steps if iaas.kind(s) == "postgresql"]
    etcd_hosts = _hosts([s for s in steps if iaas.kind(s) == "etcd"])
    for server in single:
        yield server, False, f"PostgreSQL runs as a single server on {server.get('host')}: no standby"
    if len(_hosts(patroni)) < 2:
        yield None, False, f"Patroni runs on {len(_hosts(patroni))} host(s): production needs a standby"
    elif len(etcd_hosts) < ETCD_QUORUM:
        yield None, False, f"etcd has {len(etcd_hosts)} member(s): failover needs a quorum of {ETCD_QUORUM}"
    else:
        for member in patroni:
            yield (
                member,
                True,
                (f"Patroni cluster on {', '.join(_hosts(patroni))}; etcd quorum on {', '.join(etcd_hosts)}"),
            )
    balancers = [s for s in steps if iaas.kind(s) == "load-balancer"]
    addresses = {str(iaas.spec_value(b, "virtualAddress")) for b in balancers}
    if len(_hosts(balancers)) < 2:
        yield None, False, f"{len(_hosts(balancers))} load-balancer host(s): production needs a pair"
    elif len(addresses) != 1:
        yield None, False, f"the load balancers do not share one virtual address ({', '.join(sorted(addresses))})"
    else:
        for balancer in balancers:
            yield balancer, True, f"load-balancer pair {', '.join(_hosts(balancers))} on {next(iter(addresses))}"


RULES = (iaas_high_availability,)
