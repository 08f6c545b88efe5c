"""Two real PostgreSQL 15 clusters (source and target) for the whole test run.

Both run as the `postgres` user from a temp dir it owns, on loopback, with `wal_level=logical`, local
socket trust and scram passwords over TCP (so wrong-password and pgpass paths are real). Each test gets
fresh, uniquely named databases through `pg_pair`; the password reaches libpq only through a pgpass file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.servers.process import free_port, start, wait_for_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "s3cret-Pg-pass"  # the tests check it never shows up in output, state or reports
_counter = itertools.count(1)


@dataclass
class Cluster:
    name: str
    root: Path
    port: int
    password: str = PASSWORD
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """A DSN without the password (libpq finds it in the pgpass file)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, dbname=dbname, user="postgres", password=self.password,
            autocommit=autocommit,
        )  # fmt: skip

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        with self.connect(dbname) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def _run_as_postgres(argv: list[str]) -> None:
    result = subprocess.run(argv, user="postgres", capture_output=True, text=True, cwd="/tmp")
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stderr or result.stdout}")


def start_cluster(root: Path, name: str, settings: dict[str, str] | None = None) -> Cluster:
    """initdb (as postgres), then run `postgres` in the foreground under our process helper."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.chown(root, "postgres", "postgres")
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    cluster = Cluster(name=name, root=root, port=free_port())
    _run_as_postgres(
        [str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth-local=trust",
         "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"]
    )  # fmt: skip
    options = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(root),
        "wal_level": "logical",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "100",
        "max_replication_slots": "20",
        "max_wal_senders": "20",
        "wal_receiver_status_interval": "1s",
        **(settings or {}),
    }
    argv = [str(PG_BIN / "postgres"), "-D", str(cluster.data), "-p", str(cluster.port)]
    for key, value in options.items():
        argv += ["-c", f"{key}={value}"]
    cluster.process = start(argv, root / "postgres.log", user="postgres", cwd=Path("/tmp"))
    wait_for_port(cluster.port, cluster.process, root / "postgres.log")
    # The port accepts before recovery ends: wait until a login works.
    for _ in range(100):
        try:
            cluster.connect().close()
            break
        except psycopg.OperationalError:
            import time

            time.sleep(0.1)
    return cluster


def drop_subscriptions(cluster: Cluster) -> None:
    """A subscription left behind keeps the source's slot busy: detach and drop them all."""
    with cluster.connect() as conn:
        dbs = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn").fetchall()]
    for db in dbs:
        with contextlib.suppress(psycopg.Error), cluster.connect(db) as conn:
            for (sub,) in conn.execute(
                "SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid"
                " WHERE d.datname = current_database()"
            ).fetchall():
                conn.execute(f'ALTER SUBSCRIPTION "{sub}" DISABLE')
                conn.execute(f'ALTER SUBSCRIPTION "{sub}" SET (slot_name = NONE)')
                conn.execute(f'DROP SUBSCRIPTION "{sub}"')


def stop_cluster(cluster: Cluster) -> None:
    with contextlib.suppress(Exception):
        drop_subscriptions(cluster)
    subprocess.run(
        [str(PG_BIN / "pg_ctl"), "-D", str(cluster.data), "-m", "fast", "-w", "stop"],
        user="postgres", capture_output=True, cwd="/tmp",
    )  # fmt: skip
    if cluster.process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            cluster.process.wait(timeout=30)


@dataclass
class PgPair:
    """Fresh source and target databases on the two clusters, for one test."""

    source: Cluster
    target: Cluster
    source_db: str
    target_db: str

    @property
    def source_dsn(self) -> str:
        return self.source.dsn(self.source_db)

    @property
    def target_dsn(self) -> str:
        return self.target.dsn(self.target_db)

    def src(self, autocommit: bool = True) -> psycopg.Connection:
        return self.source.connect(self.source_db, autocommit)

    def dst(self, autocommit: bool = True) -> psycopg.Connection:
        return self.target.connect(self.target_db, autocommit)


@pytest.fixture(scope="session")
def pg_clusters() -> Iterator[tuple[Cluster, Cluster]]:
    root = Path(tempfile.mkdtemp(prefix="opcloud-pg-"))
    os.chmod(root, 0o755)
    clusters: list[Cluster] = []
    try:
        clusters.append(start_cluster(root / "source", "source"))
        clusters.append(start_cluster(root / "target", "target"))
        for cluster in clusters:
            # Owners and grantees of the test schemas: roles are per cluster, so both need them.
            cluster.execute("CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_reader NOLOGIN")
        yield clusters[0], clusters[1]
    finally:
        for cluster in reversed(clusters):
            stop_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_passfile(pg_clusters: tuple[Cluster, Cluster], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pgpass") / "pgpass"
    path.write_text("".join(f"127.0.0.1:{c.port}:*:postgres:{c.password}\n" for c in pg_clusters))
    path.chmod(0o600)
    return path


@pytest.fixture
def pg_pair(pg_clusters: tuple[Cluster, Cluster], pg_passfile: Path, monkeypatch: pytest.MonkeyPatch) -> PgPair:
    source, target = pg_clusters
    n = next(_counter)
    pair = PgPair(source, target, f"src_{os.getpid()}_{n}", f"dst_{os.getpid()}_{n}")
    source.execute(f"CREATE DATABASE {pair.source_db}")
    target.execute(f"CREATE DATABASE {pair.target_db}")
    monkeypatch.setenv("PGPASSFILE", str(pg_passfile))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    return pair
