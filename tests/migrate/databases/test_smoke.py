def test_smoke(pg_pair):
    with pg_pair.src() as c:
        c.execute("CREATE TABLE a(x int); CREATE TABLE b(y int)")
        print(c.execute("show wal_level").fetchone())
