"""Store URLs on real servers for the migration tests: each call gives a fresh, empty location."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.azurite import AzuriteServer
from tests.servers.postgres import Cluster
from tests.servers.s3 import S3Server
from tests.servers.sshd import SshServer

NewUrl = Callable[[str], str]


def sftp_url(sshd: SshServer, path: Path) -> str:
    return f"sftp://{sshd.user}@{sshd.host}:{sshd.port}{path}?key={sshd.client_key}&known_hosts={sshd.known_hosts}"


def _s3(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    s3: S3Server = request.getfixturevalue("s3_server")
    s3.client().create_bucket(Bucket=name)
    return s3.url(name, "docs/")


def _az(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    azurite: AzuriteServer = request.getfixturevalue("azurite")
    azurite.service().create_container(name)
    return azurite.url(name, "docs/")


def _sftp(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    sshd: SshServer = request.getfixturevalue("sshd")
    directory = sshd.home / name
    directory.mkdir()
    return sftp_url(sshd, directory)


def _file(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    directory = tmp_path / name
    directory.mkdir()
    return f"file://{directory}"


# Per registered backend (migrate/stores/backends.py): a new, empty location on its real server. A backend
# registered without one here fails test_store_registry, so none escapes the conformance suite.
LOCATIONS: dict[str, Callable[[pytest.FixtureRequest, Path, str], str]] = {
    "s3": _s3,
    "az": _az,
    "sftp": _sftp,
    "file": _file,
}
BACKENDS = list(LOCATIONS)


@pytest.fixture
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> NewUrl:
    """new_url(backend) -> URL of a new empty bucket/container/directory on that backend's real server."""

    def make(backend: str) -> str:
        return LOCATIONS[backend](request, tmp_path, f"t-{uuid.uuid4().hex[:12]}")

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


_state_numbers = itertools.count(1)


@pytest.fixture
def state_url(pg_clusters: tuple[Cluster, Cluster], pg_passfile: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty database on the suite's PostgreSQL server; the password only in the pgpass file."""
    cluster = pg_clusters[1]
    name = f"state_{os.getpid()}_{next(_state_numbers)}"
    cluster.execute(f"CREATE DATABASE {name}")
    monkeypatch.setenv("PGPASSFILE", str(pg_passfile))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    return cluster.dsn(name)
