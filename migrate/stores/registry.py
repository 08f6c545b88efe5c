"""Open a store from its URL, through the backend's registration record (migrate/stores/backends.py)."""

from __future__ import annotations

from importlib import import_module

from opcloud.migrate.stores.base import Store
from opcloud.migrate.stores.url import StoreURL, parse


def open_store(url: str | StoreURL) -> Store:
    """A store for `url`; raises InputError/ConnectionFailed for a bad URL or credentials (no I/O otherwise)."""
    from opcloud.migrate.stores.backends import BACKENDS

    parsed = parse(url) if isinstance(url, str) else url
    backend = BACKENDS[parsed.scheme]  # parse() refused unknown schemes
    store: Store = getattr(import_module(backend.module), backend.opener)(parsed)
    return store
