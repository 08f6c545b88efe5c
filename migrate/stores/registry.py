"""Open a store from its URL: one place that knows which scheme is which backend."""

from __future__ import annotations

from migrate.stores.base import Store
from migrate.stores.url import StoreURL, parse


def open_store(url: str | StoreURL) -> Store:
    """A store for `url`; raises InputError/ConnectionFailed for a bad URL or credentials (no I/O otherwise)."""
    parsed = parse(url) if isinstance(url, str) else url
    if parsed.scheme == "s3":
        from migrate.stores.s3 import S3Store

        return S3Store(parsed)
    if parsed.scheme == "az":
        from migrate.stores.azure import AzureStore

        return AzureStore(parsed)
    if parsed.scheme == "sftp":
        from migrate.stores.sftp import open_sftp

        return open_sftp(parsed)
    from migrate.stores.local import open_local

    return open_local(parsed)
