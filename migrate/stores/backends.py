"""Every kind of store opcloud can copy from and to: one registration record each, and nothing else.

The record is all the rest of opcloud needs to know about a backend: its URL scheme and form, the URL parameters
it takes (never secrets), where its code is (imported on first use, so a copy loads only the SDKs of its own
stores), and how its location is told for the residency checks. What a store can hold (its features) is declared
by the store itself, since some depend on where it is (a file tree's file system). Adding a store: one module in
migrate/stores/ with a class that implements `Store`, and one `register(Backend(...))` below (ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Backend:
    scheme: str
    usage: str  # the URL form, for --help and errors
    params: frozenset[str]  # URL parameters it accepts; any other is refused (a pasted secret is never kept)
    module: str  # where the opener is, imported on first use
    opener: str  # a callable there: StoreURL -> Store
    # The URL's host part: a bucket or container inside a service, or a host whose file tree the path names.
    layout: Literal["bucket", "host", "local"]
    region_cloud: str | None = None  # `?region=` is a region of this cloud in the residency registry
    located_by_host: Literal["endpoint", "host", None] = None  # a host name that tells the country


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> None:
    BACKENDS[backend.scheme] = backend


register(Backend(
    scheme="s3",
    usage="s3://BUCKET/PREFIX[?endpoint=URL&region=R&profile=P]",
    params=frozenset({"endpoint", "region", "profile", "country"}),
    module="opcloud.migrate.stores.s3",
    opener="S3Store",
    layout="bucket",
    region_cloud="aws",
    located_by_host="endpoint",
))  # fmt: skip
register(Backend(
    scheme="az",
    usage="az://CONTAINER/PREFIX[?connection_env=VAR|account=NAME&region=R]",
    params=frozenset({"connection_env", "account", "endpoint", "region", "country"}),
    module="opcloud.migrate.stores.azure",
    opener="AzureStore",
    layout="bucket",
    region_cloud="azure",
    located_by_host="endpoint",
))  # fmt: skip
register(Backend(
    scheme="sftp",
    usage="sftp://USER@HOST:PORT/PATH[?key=FILE&known_hosts=FILE&bastion=USER@HOST:PORT]",
    params=frozenset({"key", "known_hosts", "bastion", "bastion_key", "country", "region"}),
    module="opcloud.migrate.stores.sftp",
    opener="open_sftp",
    layout="host",
    region_cloud="iaas",
    located_by_host="host",
))  # fmt: skip
register(Backend(
    scheme="file",
    usage="file:///PATH",
    params=frozenset({"country"}),
    module="opcloud.migrate.stores.local",
    opener="open_local",
    layout="local",
))  # fmt: skip
