"""A procurement-like schema with many types, written into the source database of `pg_pair`."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from tests.servers.postgres import PgPair

SCHEMA = """
CREATE EXTENSION citext;
CREATE SCHEMA app AUTHORIZATION app_owner;
CREATE TYPE app.status AS ENUM ('draft', 'active', 'complete');
CREATE TABLE app.tenders (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    buyer citext,
    status app.status NOT NULL DEFAULT 'draft',
    amount numeric(20, 2),
    tags text[],
    doc jsonb,
    attachment bytea,
    published timestamptz,
    ratio double precision,
    period tstzrange,
    amount_vat numeric GENERATED ALWAYS AS (amount * 1.2) STORED
);
CREATE TABLE app.bids (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id bigint NOT NULL REFERENCES app.tenders (id) ON DELETE CASCADE,
    value numeric,
    scores int[],
    created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tender_id, id)
);
CREATE TABLE app.events (id bigint, at timestamptz NOT NULL, payload jsonb, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE app.events_2023 PARTITION OF app.events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX events_at ON app.events (at);
CREATE TABLE app.audit_log (at timestamptz, line text);
CREATE TABLE public.settings (key text PRIMARY KEY, value jsonb) ;
CREATE VIEW app.active_tenders AS SELECT id, title FROM app.tenders WHERE status = 'active';
CREATE SEQUENCE app.doc_numbers START 1000;
CREATE INDEX tenders_doc ON app.tenders USING gin (doc);
CREATE INDEX tenders_title_lower ON app.tenders (lower(title));
CREATE FUNCTION app.no_future() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN IF NEW.published > now() + interval '100 years' THEN RAISE 'future'; END IF; RETURN NEW; END $$;
CREATE TRIGGER tenders_no_future BEFORE INSERT OR UPDATE ON app.tenders FOR EACH ROW EXECUTE FUNCTION app.no_future();
ALTER TABLE app.tenders OWNER TO app_owner;
ALTER TABLE app.bids OWNER TO app_owner;
GRANT USAGE ON SCHEMA app TO app_reader;
GRANT SELECT ON app.tenders, app.bids, app.active_tenders TO app_reader;
"""

DATA = """
INSERT INTO app.tenders (title, buyer, status, amount, tags, doc, attachment, published, ratio, period)
SELECT 'Tender ' || g || ' — закупівля ' || repeat('x', g % 50),
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'Buyer-' || (g % 97) END,
       (ARRAY['draft', 'active', 'complete']::app.status[])[1 + g % 3],
       (g * 12.34)::numeric(20, 2),
       ARRAY['t' || g % 5, 'lot ' || g % 3],
       jsonb_build_object('id', g, 'items', jsonb_build_array(g, g * 2), 'name', 'n"q' || g,
                          'nested', jsonb_build_object('k', g % 11)),
       decode(md5(g::text), 'hex'),
       timestamptz '2023-01-01 00:00:00+00' + g * interval '37 minutes',
       CASE g % 100 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity'::float8 ELSE g / 3.0 END,
       tstzrange(timestamptz '2023-01-01' + g * interval '1 hour', timestamptz '2023-01-02' + g * interval '1 hour')
FROM generate_series(1, %(tenders)s) AS g;
INSERT INTO app.bids (tender_id, value, scores, created)
SELECT 1 + (g % %(tenders)s), g * 1.5, ARRAY[g % 10, g % 7], timestamptz '2023-06-01' + g * interval '1 minute'
FROM generate_series(1, %(bids)s) AS g;
INSERT INTO app.events SELECT g, timestamptz '2023-01-01' + g * interval '1 hour', jsonb_build_object('e', g)
FROM generate_series(1, 12000) AS g;
INSERT INTO app.audit_log SELECT timestamptz '2023-01-01' + (g % 100) * interval '1 day', 'line ' || (g % 50)
FROM generate_series(1, 3000) AS g;
INSERT INTO public.settings VALUES ('a', '{"x": 1}'), ('b', '[1, 2, 3]'), ('c', 'null');
SELECT setval('app.doc_numbers', 4242);
"""


def make_schema(pair: PgPair, tenders: int = 8000, bids: int = 16000) -> None:
    with pair.src() as conn:
        conn.execute(SCHEMA)
        conn.execute(DATA.replace("%(tenders)s", str(tenders)).replace("%(bids)s", str(bids)))
        conn.execute("ANALYZE")


@pytest.fixture
def source_db(pg_pair: PgPair) -> PgPair:
    make_schema(pg_pair)
    return pg_pair


class Writer(threading.Thread):
    """Keeps inserting, updating and deleting on the source until stopped or its session is ended."""

    def __init__(self, pair: PgPair) -> None:
        super().__init__(daemon=True)
        self.pair = pair
        self.stop = threading.Event()
        self.commits = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            with self.pair.src() as conn:
                while not self.stop.is_set():
                    n += 1
                    with conn.transaction():
                        row = conn.execute(
                            "INSERT INTO app.tenders (title, amount, doc, tags) VALUES (%s, %s, %s, %s) RETURNING id",
                            (f"live {n}", n, psycopg.types.json.Jsonb({"live": n}), ["w"]),
                        ).fetchone()
                        conn.execute("INSERT INTO app.bids (tender_id, value) VALUES (%s, %s)", (row[0], n))
                        conn.execute(
                            "UPDATE app.tenders SET status = 'active', doc = doc || '{\"u\": 1}' WHERE id = %s",
                            (n * 7,),
                        )
                        conn.execute("DELETE FROM app.tenders WHERE id = %s", (n * 13 + 1,))
                        conn.execute("UPDATE app.events SET payload = '{\"changed\": true}' WHERE id = %s", (n,))
                        conn.execute("INSERT INTO app.audit_log VALUES (now(), %s)", (f"writer {n}",))
                        conn.execute("DELETE FROM app.audit_log WHERE ctid = (SELECT min(ctid) FROM app.audit_log)")
                        conn.execute("SELECT nextval('app.doc_numbers')")
                    self.commits += 1
        except psycopg.Error as error:  # ended by cutover: expected
            self.error = error


@pytest.fixture
def writer_factory() -> Iterator[type[Writer]]:
    yield Writer
