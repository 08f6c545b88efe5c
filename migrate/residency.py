"""Where a store lies: every store URL resolves to a country through the one residency registry.

Order: an explicit `?country=`; then `?region=` (an AWS region for s3://, an Azure region for az://, a site
of a VM-only cloud for sftp://); then the endpoint's host name (AWS S3 endpoints, De Novo, MCloud). An
s3:// URL without endpoint is AWS itself, located by its region. Nothing is guessed: unknown stays unknown.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from opcloud.migrate.stores.backends import BACKENDS
from opcloud.migrate.stores.url import StoreURL, parse

from opcloud import residency
from opcloud.errors import InputError, ResidencyError


def country_of_store(url: StoreURL) -> str | None:
    params = url.params
    if "country" in params:
        country = params["country"].upper()
        if not (len(country) == 2 and country.isalpha()):
            raise InputError(f"country must be an ISO 3166 code such as UA, got {params['country']!r}")
        return country
    backend = BACKENDS[url.scheme]
    if "region" in params and backend.region_cloud:
        return residency.country_of(backend.region_cloud, params["region"])
    host = None
    if backend.located_by_host == "endpoint" and "endpoint" in params:
        host = urlsplit(params["endpoint"]).hostname
    elif backend.located_by_host == "host":
        host = url.netloc_host
    return residency.country_of_host(host) if host else None


def check_within(jurisdiction: str, urls: list[str]) -> None:
    """Refuse (ResidencyError) any store outside `jurisdiction` or whose location is unknown."""
    residency.countries_of(jurisdiction)  # an unknown jurisdiction is an input error
    for raw in urls:
        url = parse(raw)
        country = country_of_store(url)
        if country is None:
            raise ResidencyError(
                f"cannot tell where {url.redacted()} lies: add ?country=CC or ?region= to check it for {jurisdiction}"
            )
        if not residency.within(jurisdiction, country):
            raise ResidencyError(f"{url.redacted()} lies in {country}, outside the jurisdiction {jurisdiction}")
