"""A real Azure Blob server on loopback: Azurite (npm), one per test run, data on disk in a temp dir.

Tests get a fresh container each (`azure_container`). The well-known development account's connection
string is exported as AZURE_STORAGE_CONNECTION_STRING, as the code under test reads it in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from tests.servers.process import SERVERS_DIR, free_port, start, stop, wait_for_port

AZURITE = SERVERS_DIR / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class AzuriteServer:
    port: int

    @property
    def connection_string(self) -> str:
        return self.connection_string_for(self.port)

    @staticmethod
    def connection_string_for(port: int) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )

    def service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)

    def url(self, container: str, prefix: str = "") -> str:
        return f"az://{container}/{prefix}"


def azurite_argv(port: int, location: Path) -> list[str]:
    """The command line of an Azurite blob server on 127.0.0.1:port keeping its data in `location`."""
    return [
        str(AZURITE),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--loose",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    if not AZURITE.exists():
        pytest.fail("Azurite missing: run `bash scripts/bootstrap.sh --servers`")
    root = tmp_path_factory.mktemp("azurite")
    port = free_port()
    log = root / "azurite.log"
    process = start(azurite_argv(port, root / "data"), log)
    try:
        wait_for_port(port, process, log)
        server = AzuriteServer(port)
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = server.connection_string
        yield server
    finally:
        stop(process)


@pytest.fixture
def azure_container(azurite: AzuriteServer) -> str:
    """A new, empty container's name."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    azurite.service().create_container(name)
    return name
