"""Allow-lists judged by what they admit: the public address space a list of networks opens, per port class.

A list is never judged by its spelling: `0.0.0.0/1` + `128.0.0.0/1` is the whole Internet as surely as
`0.0.0.0/0`. Public means anything outside private-use space (RFC 1918, CGNAT, loopback, link-local, ULA);
documentation ranges count as public, since in a real file they stand for public networks.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, collapse_addresses, ip_network
from typing import Literal

PortClass = Literal["admin", "data", "web"]

ADMIN_PORTS: dict[int, str] = {22: "SSH", 3389: "RDP"}
DATA_PORTS: dict[int, str] = {
    111: "rpcbind",
    445: "SMB",
    2049: "NFS",
    3260: "iSCSI",
    3306: "MySQL",
    5432: "PostgreSQL",
    6379: "Redis",
    9200: "Elasticsearch",
    27017: "MongoDB",
}
# Strict defaults: a VPN or office block on admin and data ports; a few partner networks on the web entry.
DEFAULT_LIMITS: dict[PortClass, int] = {"admin": 256, "data": 256, "web": 65536}
# What no environment may allow, whatever its limits say: the model refuses a limit above these.
CEILINGS: dict[PortClass, int] = {"admin": 65536, "data": 65536, "web": 2**24}
# Sources meaning "anywhere" in provider syntax.
WORLD_WORDS = ("*", "internet", "any")

_PRIVATE: tuple[IPv4Network | IPv6Network, ...] = tuple(
    ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def port_class(port: int) -> PortClass:
    if port in ADMIN_PORTS:
        return "admin"
    if port in DATA_PORTS:
        return "data"
    return "web"


def service(port: int) -> str:
    return ADMIN_PORTS.get(port) or DATA_PORTS.get(port) or str(port)


def network_of(source: str) -> IPv4Network | IPv6Network | None:
    """A source as a network: `*`/`Internet`/`Any` are the IPv4 world; None for a service tag or name."""
    text = str(source).strip()
    if text.lower() in WORLD_WORDS:
        return IPv4Network("0.0.0.0/0")
    try:
        return ip_network(text, strict=False)
    except ValueError:
        return None


def _public_size(network: IPv4Network | IPv6Network) -> int:
    """Public addresses in one network (IPv6 counted in /64 subnets, the unit a site is given)."""
    parts = [network]
    for private in _PRIVATE:
        if private.version != network.version:
            continue
        nxt: list[IPv4Network | IPv6Network] = []
        for part in parts:
            if part.subnet_of(private):  # type: ignore[arg-type]
                continue
            if private.subnet_of(part):  # type: ignore[arg-type]
                nxt.extend(part.address_exclude(private))  # type: ignore[arg-type]
            else:
                nxt.append(part)
        parts = nxt
    if network.version == 6:
        return sum(2 ** max(0, 64 - p.prefixlen) for p in parts)
    return sum(p.num_addresses for p in parts)


def public_addresses(sources: Iterable[str]) -> int | None:
    """Public addresses the sources admit together (overlaps counted once); None if one is unreadable."""
    networks: list[IPv4Network | IPv6Network] = []
    for source in sources:
        network = network_of(source)
        if network is None:
            return None
        networks.append(network)
    total = 0
    # collapse_addresses takes one IP version at a time.
    v4 = [n for n in networks if isinstance(n, IPv4Network)]
    v6 = [n for n in networks if isinstance(n, IPv6Network)]
    total += sum(_public_size(n) for n in collapse_addresses(v4))
    total += sum(_public_size(n) for n in collapse_addresses(v6))
    return total


def describe(count: int) -> str:
    """A count of addresses for people: 256 (a /24), 2147483648 (a /1)."""
    prefix = 32 - max(count, 1).bit_length() + 1
    return f"{count} public addresses (about a /{max(prefix, 0)})"
