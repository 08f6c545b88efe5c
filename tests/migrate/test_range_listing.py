"""A key range is listed without paging through the rest of the bucket (issue 17): the bounds reach the service.
The list requests are counted by the real S3 server itself (moto's request recorder)."""

from __future__ import annotations

from collections.abc import Callable

from opcloud.migrate.stores.registry import open_store

from tests.migrate.motorecorder import recorded
from tests.servers.s3 import S3Server

KEYS = [f"docs/{number:05d}" for number in range(1100)]  # more than one 1,000-key page


def _list_requests(s3_server: S3Server, bucket: str, action: Callable[[], object]) -> int:
    """How many list requests for `bucket` moto received while `action` ran."""
    return sum(f"/{bucket}?" in r["url"] and "list-type=2" in r["url"] for r in recorded(s3_server, action))


def test_a_range_is_listed_from_its_start_and_stops_at_its_end(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    for key in KEYS:
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    store = open_store(s3_server.url(s3_bucket))
    seen: list[list[str]] = []

    def listed(**bounds: str) -> Callable[[], object]:
        return lambda: seen.append([info.key for info in store.list(**bounds)])

    assert _list_requests(s3_server, s3_bucket, listed(start_after="docs/01050")) == 1  # the first 1,051 skipped
    assert _list_requests(s3_server, s3_bucket, listed(stop_before="docs/00010")) == 1  # no second page asked for
    assert _list_requests(s3_server, s3_bucket, listed()) == 2  # the counter sees every page
    assert seen == [KEYS[1051:], KEYS[:10], KEYS]
