"""The state records copies in batches: at most 1 KiB written to it per object (one page per object before)."""

from __future__ import annotations

from pathlib import Path

from opcloud.migrate.buckets import engine

from tests.servers.s3 import S3Server

OBJECTS = 600


def _written() -> int:
    """Bytes this process sent to the file system (moto is another process; its writes are not counted)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"])


def test_the_state_costs_at_most_a_kib_per_object(s3_server: S3Server, tmp_path: Path) -> None:
    client = s3_server.client()
    buckets = [f"batch-{name}-{tmp_path.name[-8:].lower().replace('_', '-')}" for name in ("src", "dst")]
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    for number in range(OBJECTS):
        client.put_object(Bucket=buckets[0], Key=f"tenders/{number:06d}.pdf", Body=b"")
    options = engine.CopyOptions(state_dir=tmp_path / "state", transfers=4, progress=False)
    before = _written()
    report = engine.copy(s3_server.url(buckets[0]), s3_server.url(buckets[1]), options)
    written = _written() - before
    assert report.ok and report.copied == OBJECTS
    assert written > 0  # the state is on a file system that counts writes (not tmpfs): the figure means something
    assert written / OBJECTS <= 1024, f"{written / OBJECTS:.0f} bytes per object"
