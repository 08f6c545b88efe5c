"""The S3 client parses listed timestamps with fromisoformat instead of dateutil: the same instants, so the change
tags recorded in states (LastModified to the millisecond) stay what they were."""

from __future__ import annotations

import pytest
from botocore.parsers import DEFAULT_TIMESTAMP_PARSER
from opcloud.migrate.stores.objectstore import s3_timestamp
from opcloud.migrate.stores.s3 import _timestamp


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T06:18:48.000Z",  # as S3 and moto list it
        "2026-12-01T06:18:48Z",
        "2026-12-01T06:18:48.123456Z",
        "2026-12-01T06:18:48.5+02:00",
        "Wed, 01 Dec 2026 06:18:48 GMT",  # an HTTP date: botocore's own parser
    ],
)
def test_a_timestamp_is_the_instant_botocore_would_give(value: str) -> None:
    ours, botocores = _timestamp(value), DEFAULT_TIMESTAMP_PARSER(value)
    assert ours == botocores and ours.utcoffset() == botocores.utcoffset()
    assert s3_timestamp(ours) == s3_timestamp(botocores)
