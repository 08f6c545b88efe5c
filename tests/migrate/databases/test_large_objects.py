"""Large objects and the database's own properties (settings, grants, comment): carried, verified, or refused
by name before anything is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from opcloud.migrate.databases import dsn, engine, largeobjects
from opcloud.migrate.databases.state import load
from typer.testing import CliRunner

from opcloud.cli import app
from tests.migrate.databases.test_resume import killed_after
from tests.servers.postgres import PASSWORD, PgPair
from tests.servers.process import REPO_ROOT

BIG = 2_500_000  # more than two of the 1 MiB pieces copied and hashed at a time


def _large_objects(pair: PgPair) -> list[int]:
    """Five 150 kB objects and one of 2.5 MB, with owners, grants and comments."""
    oids = []
    with pair.src() as conn:
        conn.execute("CREATE TABLE public.docs (id int PRIMARY KEY, body oid)")
        for i in range(5):
            row = conn.execute("SELECT lo_from_bytea(0, decode(repeat(md5(%s::text), 9375), 'hex'))", (i,)).fetchone()
            oids.append(row[0])
        row = conn.execute("SELECT lo_from_bytea(0, decode(repeat(md5('big'), %s), 'hex'))", (BIG // 16,)).fetchone()
        oids.append(row[0])
        for i, oid in enumerate(oids):
            conn.execute(f"INSERT INTO public.docs VALUES ({i}, {oid})")
        conn.execute(f"ALTER LARGE OBJECT {oids[0]} OWNER TO app_owner")
        conn.execute(f"GRANT SELECT ON LARGE OBJECT {oids[1]} TO app_reader")
        conn.execute(f"COMMENT ON LARGE OBJECT {oids[2]} IS 'signed contract'")
    return oids


def _database_properties(pair: PgPair) -> None:
    db = pair.source_db
    with pair.src() as conn:
        conn.execute(f"ALTER DATABASE {db} SET work_mem = '8MB'")
        conn.execute(f'ALTER DATABASE {db} SET search_path = "$user", public, app')
        conn.execute(f"ALTER ROLE app_reader IN DATABASE {db} SET statement_timeout = '5s'")
        conn.execute(f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC")
        conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO app_reader")
        conn.execute(f"COMMENT ON DATABASE {db} IS 'procurement documents'")


def _lo_rows(conn, oids: list[int]) -> list[tuple]:
    return conn.execute(
        "SELECT m.oid, md5(lo_get(m.oid)), length(lo_get(m.oid)), pg_get_userbyid(m.lomowner), m.lomacl::text,"
        " obj_description(m.oid, 'pg_largeobject') FROM pg_largeobject_metadata m WHERE m.oid = ANY(%s)"
        " ORDER BY m.oid",
        (oids,),
    ).fetchall()


def _settings(conn) -> list[tuple]:
    return conn.execute(
        "SELECT r.rolname, array(SELECT unnest(s.setconfig) ORDER BY 1)"
        " FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
        " LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST"
    ).fetchall()


def _database_acl_and_comment(conn) -> tuple:
    return conn.execute(
        "SELECT array(SELECT format('%s %s %s', pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable)"
        " FROM aclexplode(d.datacl) a ORDER BY 1), shobj_description(d.oid, 'pg_database')"
        " FROM pg_database d WHERE d.datname = current_database()"
    ).fetchone()


def test_large_objects_and_database_properties_are_carried_and_verified(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    oids = _large_objects(pair)
    _database_properties(pair)
    report = engine.copy_database(
        dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn), state_dir=tmp_path, show_progress=False
    )
    with pair.src() as src, pair.dst() as dst:
        source_rows = _lo_rows(src, oids)
        assert [r[2] for r in source_rows] == [150_000] * 5 + [BIG]
        assert _lo_rows(dst, oids) == source_rows  # contents, owner, grants, comment
        assert _settings(dst) == _settings(src)
        assert _database_acl_and_comment(dst) == _database_acl_and_comment(src)
        assert _database_acl_and_comment(dst)[1] == "procurement documents"
    assert report.verification is not None and report.verification.ok, report.verification.problems
    assert report.large_objects == 6 and report.verification.large_objects_checked == 6


def test_a_tampered_large_object_is_caught_by_verify(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    oids = _large_objects(pair)
    engine.copy_database(dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn), state_dir=tmp_path,
                         show_progress=False)  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn]).exit_code == 0
    with pair.dst() as conn:
        # One byte of the big object, in its second piece: same size, different contents.
        conn.execute("SELECT lo_put(%s, 1500000, '\\x00')", (oids[5],))
    bad = runner.invoke(app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn, "--json"])
    assert bad.exit_code == 1, bad.output
    problems = json.loads(bad.stdout)["problems"]
    assert problems == [f"large object {oids[5]}: same size ({BIG} bytes) but the contents differ"]
    with pair.dst() as conn:
        conn.execute(f"COMMENT ON LARGE OBJECT {oids[2]} IS 'forged'")
    bad = runner.invoke(app, ["migrate", "db", "verify", pair.source_dsn, pair.target_dsn, "--json"])
    assert any("large objects (owner, grants, comment) only on the target" in p and "forged" in p
               for p in json.loads(bad.stdout)["problems"])  # fmt: skip
    assert PASSWORD not in bad.output


def test_a_role_missing_on_the_target_for_a_database_setting_is_refused_first(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    role = f"auditor_{os.getpid()}"
    with pair.source.connect() as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        with pair.src() as conn:
            conn.execute("CREATE TABLE public.t (id int PRIMARY KEY)")
            conn.execute(f"ALTER ROLE {role} IN DATABASE {pair.source_db} SET work_mem = '1MB'")
        result = CliRunner().invoke(
            app, ["migrate", "db", "copy", pair.source_dsn, pair.target_dsn, "--state-dir", str(tmp_path)]
        )
        assert result.exit_code == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and role in lines[0] and "do not exist on the target" in lines[0]
        with pair.dst() as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
            assert _settings(conn) == []
        assert not list(tmp_path.iterdir())
    finally:
        with pair.source.connect() as admin:
            admin.execute(f"DROP DATABASE {pair.source_db}")
            admin.execute(f"DROP ROLE {role}")


def test_a_database_property_the_target_refuses_is_named_before_anything_is_written(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    with pair.src() as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY)")
        # A superuser-only setting: the target refuses it to a role that is not superuser.
        conn.execute(f"ALTER DATABASE {pair.source_db} SET log_statement = 'all'")
    role = f"migrator_{os.getpid()}"
    for cluster, db in ((pair.source, pair.source_db), (pair.target, pair.target_db)):
        with cluster.connect() as admin:  # the same owner on both sides: only the setting stands in the way
            admin.execute(f"DROP ROLE IF EXISTS {role}")
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' CREATEROLE")
            admin.execute(f"ALTER DATABASE {db} OWNER TO {role}")
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        f"127.0.0.1:{pair.source.port}:*:postgres:{PASSWORD}\n127.0.0.1:{pair.target.port}:*:{role}:{PASSWORD}\n"
    )
    passfile.chmod(0o600)
    target = f"postgresql://{role}@127.0.0.1:{pair.target.port}/{pair.target_db}?passfile={passfile}"
    try:
        result = CliRunner().invoke(
            app, ["migrate", "db", "copy", pair.source_dsn, target, "--state-dir", str(tmp_path / "state")]
        )
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "log_statement" in lines[0] and "cannot be carried" in lines[0], lines
        with pair.dst() as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
            assert _settings(conn) == []
    finally:
        for cluster, db in ((pair.source, pair.source_db), (pair.target, pair.target_db)):
            with cluster.connect() as admin:
                admin.execute(f"DROP DATABASE {db}")
                admin.execute(f"DROP ROLE {role}")


def test_a_copy_killed_among_the_large_objects_resumes_after_the_last_batch(pg_pair: PgPair, tmp_path) -> None:
    pair = pg_pair
    with pair.src() as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY)")
        conn.execute(
            "SELECT lo_from_bytea(0, convert_to(repeat('doc ' || g, 50), 'UTF8')) FROM generate_series(1, 1200) g"
        )
    argv = [*killed_after("after_large_object_batch", 1), "migrate", "db", "copy", pair.source_dsn, pair.target_dsn,
            "--state-dir", str(tmp_path)]  # fmt: skip
    crashed = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    src, dst = dsn.parse(pair.source_dsn), dsn.parse(pair.target_dsn)
    state = load(tmp_path, src.identity, dst.identity)
    assert state is not None and state.phase == "large-objects" and state.large_objects_done > 0
    with pair.dst() as conn:  # the first batch is in, the rest still empty
        sizes = conn.execute("SELECT length(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY oid").fetchall()
    assert len(sizes) == 1200 and sum(1 for (n,) in sizes if n) == largeobjects.BATCH_OBJECTS

    report = engine.copy_database(src, dst, state_dir=tmp_path, show_progress=False)
    assert report.large_objects == 1200 - largeobjects.BATCH_OBJECTS  # only those after the last batch
    assert report.verification is not None and report.verification.ok, report.verification.problems
    assert report.verification.large_objects_checked == 1200
