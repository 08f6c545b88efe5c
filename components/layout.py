"""Address plan of the platform network: pure functions, tested without Pulumi.

The network is cut into 16 equal blocks; each zone gets one block per tier, in a fixed order so that
adding a zone never renumbers an existing subnet:

    block 0..2   public (load balancer)    zone a, b, c
    block 4..6   app (API, documents)      zone a, b, c
    block 8..10  data (database, endpoints) zone a, b, c
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

TIERS = ("public", "app", "data")
_BLOCKS_PER_TIER = 4  # room for a fourth zone without renumbering
_BLOCK_BITS = 4  # 16 blocks


@dataclass(frozen=True)
class Subnet:
    tier: str
    zone_index: int
    cidr: IPv4Network

    @property
    def zone_letter(self) -> str:
        return "abcdefgh"[self.zone_index]


def subnet_layout(cidr: IPv4Network, zones: int) -> list[Subnet]:
    """The subnets of every tier in every zone."""
    if not 1 <= zones <= _BLOCKS_PER_TIER:
        raise ValueError(f"zones must be 1..{_BLOCKS_PER_TIER}, got {zones}")
    blocks = list(cidr.subnets(prefixlen_diff=_BLOCK_BITS))
    return [
        Subnet(tier, zone, blocks[tier_index * _BLOCKS_PER_TIER + zone])
        for tier_index, tier in enumerate(TIERS)
        for zone in range(zones)
    ]


def tier_cidrs(cidr: IPv4Network, zones: int, tier: str) -> list[str]:
    return [str(s.cidr) for s in subnet_layout(cidr, zones) if s.tier == tier]
