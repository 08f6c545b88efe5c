"""Store URLs: `s3://bucket/prefix?endpoint=..`, `az://container/prefix`, `sftp://user@host:port/path`, `file:///path`.

A URL names where the data is and how to reach it, never a secret: credentials come from the standard
chains (AWS profile/env, an Azure connection string in a named environment variable, SSH keys and agent).
Unknown parameters are refused so that a secret pasted into a URL is rejected instead of stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from opcloud.migrate.stores.backends import BACKENDS

from opcloud.errors import InputError


@dataclass(frozen=True)
class StoreURL:
    scheme: str
    netloc_host: str  # bucket, container or SSH host ("" for file)
    user: str | None
    port: int | None
    path: str  # prefix inside the bucket/container, or the root directory for sftp/file
    params: dict[str, str]

    @property
    def prefix(self) -> str:
        """Key prefix inside a bucket/container: '' or ending with '/'."""
        path = self.path.strip("/")
        return f"{path}/" if path else ""

    def redacted(self) -> str:
        """Safe to print: no password, only the parameters we know (which are never secrets)."""
        auth = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        query = "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.scheme}://{auth}{self.netloc_host}{port}{self.path}" + (f"?{query}" if query else "")


def parse(url: str) -> StoreURL:
    """Parse and validate a store URL; every mistake is one clear InputError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    backend = BACKENDS.get(scheme)
    if backend is None:
        shown = url.split("://", 1)[0] if "://" in url else url[:40]
        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise InputError(f"unknown store scheme in {shown!r}: use {known}")
    if parts.password:
        raise InputError(f"{scheme}:// URLs must not hold a password: use keys, an agent or a named variable")
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in backend.params:
            raise InputError(f"unknown parameter {name!r} in a {scheme}:// URL: allowed are {sorted(backend.params)}")
        params[name] = value
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"bad port in {scheme}:// URL") from None
    path = unquote(parts.path)
    if backend.layout == "bucket":
        if not host:
            raise InputError(f"{scheme}:// URL needs a bucket or container name: {backend.usage}")
        host = parts.netloc  # bucket names keep their case-sensitive form
    elif backend.layout == "host":
        if not host or not parts.username:
            raise InputError(f"{scheme}:// URL needs a user and a host: {backend.usage}")
        if not path.startswith("/"):
            path = "/" + path
    elif host or not path.startswith("/"):
        raise InputError(f"{scheme}:// URL takes an absolute path: {backend.usage}")
    return StoreURL(scheme, host, parts.username, port, path, params)
