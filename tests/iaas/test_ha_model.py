"""`inventory.loadBalancers` and `inventory.databaseCluster` are validated like the rest: one line naming the key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from opcloud.config.environment import from_config, read_config_file, stack_file
from opcloud.errors import InputError

BASE, _ = read_config_file(stack_file("prozorro-ua-prod"))


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    change(config["opcloud:inventory"])
    return config


def _host(inventory: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for h in inventory["hosts"] if h["name"] == name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda inv: inv["loadBalancers"].update(hosts=["lb-1", "lb-1"]), "two different hosts"),
        (lambda inv: inv["loadBalancers"].update(hosts=["lb-1", "api-1"]), "host api-1 lacks the role 'lb'"),
        (lambda inv: inv["loadBalancers"].update(hosts=["lb-1", "nope"]), "unknown host 'nope'"),
        (lambda inv: inv["loadBalancers"].update(virtualAddress="192.168.1.1"), "virtualAddress 192.168.1.1 lies"),
        (lambda inv: inv["loadBalancers"].update(virtualAddress="10.60.1.11"), "is a host's own address"),
        (lambda inv: _host(inv, "api-2").update(roles=["api", "lb"]), "host api-2 has the role 'lb' but is not in"),
        (lambda inv: inv["databaseCluster"].update(hosts=["db-1", "api-1"]), "'api-1' is not a db host"),
        (lambda inv: inv["databaseCluster"].update(witness="db-2"), "'db-2' is not a third host"),
        (lambda inv: inv["databaseCluster"].update(superuserPassword={"value": "x"}), "unknown key"),
        (lambda inv: inv["databaseCluster"].update(ttlSeconds=5), "greater than or equal to 9"),
        (lambda inv: (_host(inv, "api-1").update(roles=["api", "docs"]), inv["nfs"][1]["hosts"].append("api-1")),
         "api and docs would both listen on 443"),
    ],
)
def test_refused_with_the_key_named(change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(InputError) as error:
        from_config(changed(change), "Pulumi.x.yaml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_balancer_pair_needs_a_release() -> None:
    config = copy.deepcopy(BASE)
    del config["opcloud:app"]["release"]
    with pytest.raises(InputError, match=r"loadBalancers needs app\.release"):
        from_config(config, "x")
