"""The residency registry: where every cloud region and site lies, and what a jurisdiction allows.

One registry for the whole project: the environment model, the components, the policy pack and the
migration tool all ask it, so a region added here is known everywhere at once.

A jurisdiction is an ISO 3166-1 alpha-2 country code (`UA`, `MD`, `IE`) or a union of countries
(`EU`). A place is allowed in a jurisdiction when its country belongs to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network, ip_address

from opcloud.errors import InputError

EU_MEMBERS: frozenset[str] = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)

UNIONS: dict[str, frozenset[str]] = {"EU": EU_MEMBERS}

# Country of each region. Only regions whose location is public and stable are listed: an unknown
# region is refused rather than guessed.
AWS_REGIONS: dict[str, str] = {
    "eu-west-1": "IE",
    "eu-west-2": "GB",
    "eu-west-3": "FR",
    "eu-central-1": "DE",
    "eu-central-2": "CH",
    "eu-north-1": "SE",
    "eu-south-1": "IT",
    "eu-south-2": "ES",
    "us-east-1": "US",
    "us-east-2": "US",
    "us-west-1": "US",
    "us-west-2": "US",
    "ca-central-1": "CA",
    "il-central-1": "IL",
    "me-central-1": "AE",
    "ap-southeast-1": "SG",
    "ap-northeast-1": "JP",
}

AZURE_REGIONS: dict[str, str] = {
    "northeurope": "IE",
    "westeurope": "NL",
    "germanywestcentral": "DE",
    "germanynorth": "DE",
    "francecentral": "FR",
    "francesouth": "FR",
    "polandcentral": "PL",
    "swedencentral": "SE",
    "italynorth": "IT",
    "spaincentral": "ES",
    "uksouth": "GB",
    "ukwest": "GB",
    "switzerlandnorth": "CH",
    "eastus": "US",
    "eastus2": "US",
    "westus2": "US",
}

# Sites of the VM-only clouds: the provider's data centres, named as their operators name them.
IAAS_SITES: dict[str, str] = {
    "denovo-kyiv-1": "UA",
    "denovo-kyiv-2": "UA",
    "denovo-lviv-1": "UA",
    "mcloud-chisinau-1": "MD",
    "mcloud-chisinau-2": "MD",
}


# Address blocks each IaaS site routes (hosts, filers, iSCSI portals), as the providers assign them to our
# tenancies. A host, volume or share is placed by its address, so a label cannot move it to another site.
IAAS_SITE_NETWORKS: dict[str, tuple[IPv4Network, ...]] = {
    "denovo-kyiv-1": (IPv4Network("10.60.0.0/16"), IPv4Network("10.62.0.0/16")),
    "denovo-kyiv-2": (IPv4Network("10.61.0.0/16"), IPv4Network("10.63.0.0/16")),
    "mcloud-chisinau-1": (IPv4Network("172.20.0.0/16"),),
    "mcloud-chisinau-2": (IPv4Network("172.21.0.0/16"),),
}


def site_of_address(address: str | IPv4Address) -> str | None:
    """The IaaS site routing `address` (most specific block wins); None when no site claims it."""
    try:
        ip = ip_address(str(address).rsplit(":", 1)[0] if str(address).count(":") == 1 else str(address))
    except ValueError:
        return None
    best: tuple[int, str] | None = None
    for site, networks in IAAS_SITE_NETWORKS.items():
        for network in networks:
            if ip in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, site)
    return best[1] if best else None


# Azure's geo-redundant storage and geo backups go to the region's fixed pair.
AZURE_PAIRS: dict[str, str] = {
    "northeurope": "westeurope",
    "westeurope": "northeurope",
    "germanywestcentral": "germanynorth",
    "germanynorth": "germanywestcentral",
    "francecentral": "francesouth",
    "francesouth": "francecentral",
    "uksouth": "ukwest",
    "ukwest": "uksouth",
    "eastus": "westus",
    "eastus2": "centralus",
}


def is_known_jurisdiction(code: str) -> bool:
    return code in UNIONS or (len(code) == 2 and code.isalpha() and code.isupper())


def countries_of(jurisdiction: str) -> frozenset[str]:
    """The countries a jurisdiction is made of (a country is a jurisdiction of one)."""
    if jurisdiction in UNIONS:
        return UNIONS[jurisdiction]
    if not is_known_jurisdiction(jurisdiction):
        raise InputError(f"unknown jurisdiction {jurisdiction!r}: use an ISO country code or one of {sorted(UNIONS)}")
    return frozenset({jurisdiction})


def _regions(cloud: str) -> Mapping[str, str]:
    """The regions of a registered cloud (opcloud/clouds.py), imported here on use: it imports these tables."""
    from opcloud import clouds

    return clouds.get(cloud).regions


def country_of(cloud: str, region: str) -> str:
    """The country where `region` of `cloud` lies; an unknown region is an error, never a guess."""
    table = _regions(cloud)
    try:
        return table[region]
    except KeyError:
        raise InputError(f"unknown {cloud} region {region!r}: known regions are {', '.join(sorted(table))}") from None


def within(jurisdiction: str, country: str) -> bool:
    return country in countries_of(jurisdiction)


def pin_problem(jurisdiction: str, pin: str) -> str | None:
    """Why `pin` cannot pin the primary copy inside `jurisdiction` (None when it can): every country of the
    pin must belong to the jurisdiction (IE inside EU: primary data in Ireland, copies anywhere in the EU)."""
    outside = sorted(countries_of(pin) - countries_of(jurisdiction))
    if outside:
        return f"{pin} is not inside jurisdiction {jurisdiction} ({', '.join(outside)} lies outside)"
    return None


def region_within(cloud: str, region: str, jurisdiction: str) -> bool:
    return within(jurisdiction, country_of(cloud, region))


def regions_within(cloud: str, jurisdiction: str) -> list[str]:
    """Every known region of `cloud` inside `jurisdiction`, sorted."""
    countries = countries_of(jurisdiction)
    return sorted(region for region, country in _regions(cloud).items() if country in countries)


def azure_pair(region: str) -> str | None:
    return AZURE_PAIRS.get(region)


# ---------------------------------------------------------------------------------------------------------
# Store endpoints (opcloud migrate): where an object store or SSH host lies, from its host name.
# A host matching none of these (loopback, a private address, an unknown provider) has no known country:
# the store URL must then declare it (`?country=UA`, or `?region=` for Azure accounts).
# ---------------------------------------------------------------------------------------------------------

# Host suffix -> country, for providers whose endpoints sit in one country.
ENDPOINT_SUFFIXES: dict[str, str] = {
    "denovo.ua": "UA",  # De Novo object storage and hosts (Kyiv)
    "de-novo.biz": "UA",
    "mcloud.md": "MD",  # MCloud (Chisinau)
    "gov.md": "MD",
}


def country_of_host(host: str) -> str | None:
    """The country of an endpoint host name: AWS S3 endpoints by their region, providers by suffix."""
    host = host.lower().rstrip(".")
    if host.endswith(".amazonaws.com"):
        labels = host.removesuffix(".amazonaws.com").split(".")
        for label in reversed(labels):  # s3.eu-west-1, bucket.s3.eu-west-1, s3-eu-west-1
            region = label.removeprefix("s3-").removeprefix("s3.")
            if region in AWS_REGIONS:
                return AWS_REGIONS[region]
        return None
    for suffix, country in ENDPOINT_SUFFIXES.items():
        if host == suffix or host.endswith("." + suffix):
            return country
    return None
