"""A key range is listed without paging through the rest of the bucket (issue 17): the bounds reach the service."""

from __future__ import annotations

from typing import Any

from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.s3 import S3Store

from tests.servers.s3 import S3Server

KEYS = [f"docs/{number:05d}" for number in range(1100)]  # more than one 1,000-key page


def _requests(store: S3Store) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda params, **_: seen.append(params))
    return seen


def test_a_range_is_listed_from_its_start_and_stops_at_its_end(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    for key in KEYS:
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    store = open_store(s3_server.url(s3_bucket))
    assert isinstance(store, S3Store)
    requests = _requests(store)
    assert [info.key for info in store.list(start_after="docs/01050")] == KEYS[1051:]
    assert len(requests) == 1  # the service skipped the first 1,051 keys
    requests.clear()
    assert [info.key for info in store.list(stop_before="docs/00010")] == KEYS[:10]
    assert len(requests) == 1  # the second page is never asked for
    requests.clear()
    assert len(list(store.list())) == len(KEYS) and len(requests) == 2  # the counter sees every page
