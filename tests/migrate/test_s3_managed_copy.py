"""A server-side copy above S3's single-copy limit goes through boto3's managed (multipart) copy, handed the
botocore client the store makes (boto3 is imported for that path only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.stores import s3

from tests.migrate.conftest import NewUrl
from tests.migrate.data import MIB, expected, fill, same_content, snapshot


def test_a_copy_above_the_single_copy_limit_is_a_managed_copy_and_verified(
    new_url: NewUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "_SINGLE_COPY_LIMIT", 1 * MIB)
    objects = {"big.bin": (b"b" * (9 * MIB), "application/x-big", {"kind": "big"}), "small.txt": (b"s", None, {})}
    source, target = new_url("s3"), new_url("s3")
    fill(source, objects)
    options = engine.CopyOptions(state_dir=tmp_path / "state", part_size=16 * MIB, progress=False)
    report = engine.copy(source, target, options)
    assert report.ok, report.failed
    assert (report.server_side, report.verified) == (2, 2)
    assert same_content(snapshot(target), expected(objects))
