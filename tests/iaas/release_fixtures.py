"""What the release tests deliver: a tiny real HTTPS service packed as a release tarball, its TLS material, an
artifact store (plain HTTP on the bridge, standing in for the platform's internal mirror) and an environment
whose api/docs hosts are the test VMs."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers.iaas_host import IaasNetwork

DOMAIN = "api.release-test.invalid"
SECRET_ENV = "OPCLOUD_TEST_RELEASE_DB_PASSWORD"

# The service: answers /health (200, or 503 when built broken) and /info (what it was given and what its
# sandbox lets it do), over TLS with the certificate from the platform's secrets.
SERVICE = r"""#!/usr/bin/python3
import argparse, hashlib, http.server, json, os, ssl

VERSION = "@VERSION@"
HEALTHY = @HEALTHY@
parser = argparse.ArgumentParser()
for flag in ("--listen", "--domain", "--tls-cert", "--tls-key"):
    parser.add_argument(flag, required=True)
args = parser.parse_args()


def can_write(path):
    try:
        with open(os.path.join(path, ".opcloud-probe"), "w"):
            pass
        return True
    except OSError:
        return False


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            code, body = (200, "ok " + VERSION) if HEALTHY else (503, "broken " + VERSION)
        elif self.path == "/info":
            secret = open(os.path.join(os.environ["SECRETS_DIRECTORY"], "DB_PASSWORD"), "rb").read()
            code, body = 200, json.dumps({
                "version": VERSION, "uid": os.getuid(), "greeting": os.environ.get("GREETING"),
                "db_password_sha256": hashlib.sha256(secret).hexdigest(),
                "secret_in_environment": any(secret.decode() in v for v in os.environ.values()),
                "writes_usr": can_write("/usr"), "writes_opt": can_write("/opt"),
            })
        elif self.path.startswith(("/api/", "/documents/")):
            code, body = 200, os.path.basename(os.path.realpath(__file__)) + " " + VERSION
        else:
            code, body = 404, "no"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


host, port = args.listen.rsplit(":", 1)
server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(args.tls_cert, args.tls_key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


@dataclass(frozen=True)
class Artifact:
    name: str
    sha256: str
    version: str


def build_artifact(directory: Path, version: str, healthy: bool = True) -> Artifact:
    """service-<version>.tar.gz with bin/<role> for both roles; returns its name and SHA-256."""
    script = SERVICE.replace("@VERSION@", version).replace("@HEALTHY@", str(healthy)).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for role in ("api", "docs"):
            info = tarfile.TarInfo(f"bin/{role}")
            info.size, info.mode = len(script), 0o755
            tar.addfile(info, io.BytesIO(script))
    data = buffer.getvalue()
    name = f"service-{version}.tar.gz"
    (directory / name).write_bytes(data)
    return Artifact(name, hashlib.sha256(data).hexdigest(), version)


@dataclass(frozen=True)
class Tls:
    certificate: Path
    key: Path


def make_tls(directory: Path) -> Tls:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    tls = Tls(directory / "tls.crt", directory / "tls.key")
    tls.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tls


@dataclass(frozen=True)
class ClusterCa:
    certificate: Path
    key: Path


def make_cluster_ca(directory: Path) -> ClusterCa:
    """The environment's etcd cluster CA, as an operator makes it once (any CA tool; here `cryptography`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opcloud test cluster CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    ca = ClusterCa(directory / "cluster-ca.crt", directory / "cluster-ca.key")
    ca.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca


@contextmanager
def artifact_store(directory: Path, address: str) -> Iterator[str]:
    """Serve `directory` over HTTP on the bridge address; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# The db host and its storage are declared because every inventory has them; these tests never contact them.
UNUSED_DB_VOLUME = {
    "name": "pgdata", "host": "db-1", "portal": "127.0.0.1:3260", "target": "iqn.2024-01.test.opcloud:x",
    "lun": 1, "luksKey": {"env": "OPCLOUD_TEST_UNUSED"}, "mount": "/srv/pgdata",
    "chap": {"username": "opcloud-test", "password": {"env": "OPCLOUD_TEST_UNUSED"}},
}  # fmt: skip
UNUSED_SHARES = [
    {"name": "documents", "server": "127.0.0.1", "export": "/d", "site": "denovo-kyiv-1",
     "purpose": "documents", "mount": "/srv/documents", "hosts": ["docs-1"],
     "backupPassword": {"env": "OPCLOUD_TEST_UNUSED"}},
    {"name": "backups", "server": "127.0.0.1", "export": "/b", "site": "denovo-kyiv-2",
     "purpose": "backup", "mount": "/srv/pgbackrest", "hosts": ["db-1", "docs-1"]},
]  # fmt: skip


def write_release_environment(
    directory: Path,
    net: IaasNetwork,
    tls: Tls,
    api: tuple[str, Artifact],
    docs: tuple[str, Artifact],
    health_timeout: int = 20,
    hosts: list[dict[str, Any]] | None = None,
    load_balancers: dict[str, Any] | None = None,
    rate_limit: int = 2000,
    db_hosts: list[dict[str, Any]] | None = None,
    database_cluster: dict[str, Any] | None = None,
) -> Path:
    """Pulumi.release-test.yaml: vm1 and vm2 run the api, vm3 the docs (or `hosts`); the db host (never
    contacted here) is declared because every inventory has one."""
    if hosts is None:
        vm1, vm2, vm3 = net.vms[:3]
        hosts = [
            {"name": "api-1", "address": vm1.address, "roles": ["api"]},
            {"name": "api-2", "address": vm2.address, "roles": ["api"]},
            {"name": "docs-1", "address": vm3.address, "roles": ["docs"]},
        ]
    db_hosts = db_hosts or [{"name": "db-1", "address": f"{net.prefix}.250", "roles": ["db"]}]

    def role(url_and_artifact: tuple[str, Artifact], command: str) -> dict[str, Any]:
        url, artifact = url_and_artifact
        return {
            "artifact": url,
            "sha256": artifact.sha256,
            "version": artifact.version,
            "command": command,
            "healthPath": "/health",
            "settings": {"GREETING": "hello from the environment"},
            "secrets": {"DB_PASSWORD": {"env": SECRET_ENV}},
        }

    config = {
        "opcloud:platform": "prozorro",
        "opcloud:environment": "test",
        "opcloud:jurisdiction": "UA",
        "opcloud:cloud": "iaas",
        "opcloud:region": "denovo-kyiv-1",
        "opcloud:network": {
            "cidr": "10.214.0.0/16",
            "zones": 2,
            "allowedCidrs": [f"{net.gateway}/32"],
            "adminCidrs": [net.link],
        },
        "opcloud:app": {
            "domain": DOMAIN,
            "certificate": "/etc/ssl/opcloud/unused.pem",
            "api": {"size": "vm", "min": 2, "max": 2},
            "docs": {"size": "vm", "min": 1, "max": 1},
            "rateLimit": rate_limit,
            "release": {
                "api": role(api, "bin/api"),
                "docs": role(docs, "bin/docs"),
                "tls": {"certificate": {"file": str(tls.certificate)}, "key": {"file": str(tls.key)}},
                "healthTimeoutSeconds": health_timeout,
            },
        },
        "opcloud:database": {"size": "vm", "storageGb": 20},
        "opcloud:backup": {"copyRegion": "denovo-kyiv-2", "retentionDays": 14},
        "opcloud:inventory": {
            "sshKey": {"file": str(net.client_key)},
            "knownHosts": str(net.known_hosts),
            "logServer": "logs.test.invalid:6514",
            "hosts": [*hosts, *db_hosts],
            **({"loadBalancers": load_balancers} if load_balancers else {}),
            **({"databaseCluster": database_cluster} if database_cluster else {}),
            "iscsi": [{**UNUSED_DB_VOLUME, "name": f"pgdata-{h['name']}", "host": h["name"]} for h in db_hosts],
            # The backup share is mounted by the db hosts and by the docs host that backs the documents up.
            "nfs": [UNUSED_SHARES[0], {**UNUSED_SHARES[1], "hosts": [h["name"] for h in db_hosts]
                                       + [h["name"] for h in hosts if "docs" in h["roles"]]}],
        },
        "opcloud:tags": {"owner": "opcloud-tests"},
    }
    path = directory / "Pulumi.release-test.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path
