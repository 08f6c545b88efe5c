"""A key range is listed without paging through the rest of the bucket (issue 17): the bounds reach the service.
The list requests are counted on the wire, by a proxy in front of the real S3 server."""

from __future__ import annotations

from urllib.parse import urlsplit

from opcloud.migrate.stores.registry import open_store

from tests.migrate.faultproxy import DroppingProxy, dropping_proxy
from tests.servers.s3 import S3Server

KEYS = [f"docs/{number:05d}" for number in range(1100)]  # more than one 1,000-key page


def _list_requests(proxy: DroppingProxy) -> int:
    return b"".join(proxy.from_client).count(b"list-type=2")


def test_a_range_is_listed_from_its_start_and_stops_at_its_end(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    for key in KEYS:
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    with dropping_proxy(int(urlsplit(s3_server.endpoint).port or 0), after=1 << 40, drops=0) as proxy:
        store = open_store(f"s3://{s3_bucket}/?endpoint=http://127.0.0.1:{proxy.port}&region=us-east-1")
        assert [info.key for info in store.list(start_after="docs/01050")] == KEYS[1051:]
        assert _list_requests(proxy) == 1  # the service skipped the first 1,051 keys
        proxy.from_client.clear()
        assert [info.key for info in store.list(stop_before="docs/00010")] == KEYS[:10]
        assert _list_requests(proxy) == 1  # the second page is never asked for
        proxy.from_client.clear()
        assert len(list(store.list())) == len(KEYS) and _list_requests(proxy) == 2  # the counter sees every page
