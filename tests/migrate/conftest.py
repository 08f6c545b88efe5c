"""Store URLs on real servers for the migration tests: each call gives a fresh, empty location."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.azurite import AzuriteServer
from tests.servers.s3 import S3Server
from tests.servers.sshd import SshServer

BACKENDS = ["s3", "az", "sftp", "file"]
NewUrl = Callable[[str], str]


def sftp_url(sshd: SshServer, path: Path) -> str:
    return f"sftp://{sshd.user}@{sshd.host}:{sshd.port}{path}?key={sshd.client_key}&known_hosts={sshd.known_hosts}"


@pytest.fixture
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> NewUrl:
    """new_url(backend) -> URL of a new empty bucket/container/directory on that backend's real server."""

    def make(backend: str) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        if backend == "s3":
            s3: S3Server = request.getfixturevalue("s3_server")
            s3.client().create_bucket(Bucket=name)
            return s3.url(name, "docs/")
        if backend == "az":
            azurite: AzuriteServer = request.getfixturevalue("azurite")
            azurite.service().create_container(name)
            return azurite.url(name, "docs/")
        if backend == "sftp":
            sshd: SshServer = request.getfixturevalue("sshd")
            directory = sshd.home / name
            directory.mkdir()
            return sftp_url(sshd, directory)
        directory = tmp_path / name
        directory.mkdir()
        return f"file://{directory}"

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
