"""An IaaS environment file pointing at the test VM (and, when given, the real tgt target and ganesha export)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.iaas.release_fixtures import Tls, artifact_store, make_tls
from tests.servers.iaas_host import IaasHost, IaasNetwork

LUKS_ENV = "OPCLOUD_TEST_LUKS_KEY"
CHAP_ENV = "OPCLOUD_TEST_CHAP_PASSWORD"
RESTIC_ENV = "OPCLOUD_TEST_RESTIC_PASSWORD"
CHAP_TARGET_ENV = "OPCLOUD_TEST_CHAP_TARGET_PASSWORD"


@pytest.fixture(scope="module")
def net(request: pytest.FixtureRequest) -> Iterator[IaasNetwork]:
    """The module's disposable VMs on one bridge: as many as its `VMS` says."""
    network = IaasNetwork(request.module.VMS)
    try:
        yield network
    finally:
        network.close()


@pytest.fixture(scope="module")
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's artifacts, certificates and environment files."""
    return tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])


@pytest.fixture(scope="module")
def tls(files: Path) -> Tls:
    return make_tls(files)


@pytest.fixture(scope="module")
def store(net: IaasNetwork, files: Path) -> Iterator[str]:
    """The artifact store the hosts fetch releases from, served on the bridge."""
    with artifact_store(files, net.gateway) as url:
        yield url


def write_environment(
    directory: Path,
    vm: IaasHost,
    *,
    portal: str = "127.0.0.1:3260",
    iqn: str = "iqn.2024-01.test.opcloud:pgdata",
    lun: int = 1,
    chap_user: str = "opcloud-test",
    chap_target_user: str | None = None,
    nfs_server: str = "127.0.0.1",
    nfs_port: int = 2049,
    nfs_export: str = "/opcloud-test/documents",
    known_hosts: Path | None = None,
    extra_hosts: list[dict[str, Any]] | None = None,
) -> Path:
    """Pulumi.iaas-test.yaml: three inventory hosts (api, docs, db) that are all the one test VM."""
    vm_host = {"address": vm.address, "user": vm.user, "port": vm.port}
    config = {
        "opcloud:platform": "prozorro",
        "opcloud:environment": "test",
        "opcloud:jurisdiction": "UA",
        "opcloud:cloud": "iaas",
        "opcloud:region": "denovo-kyiv-1",
        "opcloud:network": {
            "cidr": "10.213.0.0/16",
            "zones": 2,
            "allowedCidrs": ["198.51.100.0/24"],
            "adminCidrs": [vm.link],
        },
        "opcloud:app": {
            "domain": "api.test.invalid",
            "certificate": "/etc/ssl/opcloud/test.pem",
            "api": {"size": "vm", "min": 1, "max": 1},
            "docs": {"size": "vm", "min": 1, "max": 1},
        },
        "opcloud:database": {"size": "vm", "storageGb": 20},
        "opcloud:backup": {"copyRegion": "denovo-kyiv-2", "retentionDays": 14},
        "opcloud:inventory": {
            "sshKey": {"file": str(vm.client_key)},
            "knownHosts": str(known_hosts or vm.known_hosts),
            "logServer": "logs.test.invalid:6514",
            "hosts": [
                {"name": "vm-api", "roles": ["api"], **vm_host},
                {"name": "vm-docs", "roles": ["docs"], **vm_host},
                {"name": "vm-db", "roles": ["db"], **vm_host},
                *(extra_hosts or []),
            ],
            "iscsi": [
                {
                    "name": "pgdata",
                    "host": "vm-db",
                    "portal": portal,
                    "target": iqn,
                    "lun": lun,
                    "chap": {
                        "username": chap_user,
                        "password": {"env": CHAP_ENV},
                        **(
                            {"targetUsername": chap_target_user, "targetPassword": {"env": CHAP_TARGET_ENV}}
                            if chap_target_user
                            else {}
                        ),
                    },
                    "luksKey": {"env": LUKS_ENV},
                    "mount": "/srv/pgdata",
                }
            ],
            "nfs": [
                {
                    "name": "documents",
                    "server": nfs_server,
                    "port": nfs_port,
                    "export": nfs_export,
                    "site": "denovo-kyiv-1",
                    "purpose": "documents",
                    "backupPassword": {"env": RESTIC_ENV},
                    "mount": "/srv/documents",
                    "hosts": ["vm-docs"],
                },
                {
                    "name": "backups",
                    "server": nfs_server,
                    "port": nfs_port,
                    "export": nfs_export,
                    "site": "denovo-kyiv-2",
                    "purpose": "backup",
                    "mount": "/srv/pgbackrest",
                    "hosts": ["vm-db", "vm-docs"],
                },
            ],
        },
        "opcloud:tags": {"owner": "opcloud-tests"},
    }
    path = directory / "Pulumi.iaas-test.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path
