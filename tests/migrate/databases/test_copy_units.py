"""One COPY unit on the real clusters: a source that dies midway commits nothing on the target."""

from __future__ import annotations

import pytest
from opcloud.migrate.databases import catalog, dsn
from opcloud.migrate.databases import copy as copier
from opcloud.migrate.databases import snapshot as snapshots

from opcloud.errors import CheckFailed
from tests.servers.postgres import PgPair

TABLE = "CREATE TABLE public.notices (id bigint PRIMARY KEY, body text NOT NULL)"


def test_source_ended_midway_leaves_no_partial_rows(pg_pair: PgPair) -> None:
    with pg_pair.src() as conn:
        conn.execute(TABLE)
        # ~60 MB: far more than the pipe and socket buffers hold, so the source is still sending when it is ended.
        conn.execute("INSERT INTO public.notices SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 400000) g")
        conn.execute("ANALYZE public.notices")
    with pg_pair.dst() as conn:
        conn.execute(TABLE)
    src, dst = dsn.parse(pg_pair.source_dsn), dsn.parse(pg_pair.target_dsn)
    snap = snapshots.export(src)
    try:
        with pg_pair.src() as conn:
            (table,) = [t for t in catalog.tables(conn) if t.key == ("public", "notices")]
        ended: list[int] = []

        def end_source_copy(unit: copier.Unit, moved: int) -> None:
            if not ended:
                with pg_pair.src() as conn:
                    row = conn.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE query LIKE 'COPY%%notices%%' AND pid <> pg_backend_pid()"
                    ).fetchone()
                ended.append(row[0] if row else 0)

        with pytest.raises(CheckFailed, match=r"copying public\.notices failed"):
            copier.copy_units(src, dst, snap.name, [copier.Unit(table, 0, 1)], 1, end_source_copy, lambda r: None)
        assert ended == [1]  # the source's COPY really was cut off midway
    finally:
        snap.close()
    with pg_pair.dst() as conn:
        assert conn.execute("SELECT count(*) FROM public.notices").fetchone() == (0,)
