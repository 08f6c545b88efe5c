"""Benchmark: bytes written to the state per object copied (the goal: at most 1 KiB).

Starts a moto S3 server (its own process: its writes are not ours), fills a bucket with `--objects` empty
objects, copies it to a second bucket with the engine in this process, and reads this process's
/proc/self/io (write_bytes minus cancelled_write_bytes: what reached the file system) around the copy. Nothing
else this process does writes to disk, so the difference is the state: the SQLite file, its WAL and the
listing's work tables when they spill. With `--pg URL` the state is a PostgreSQL record (the server is another
process): its size per object is read from the server instead.

    .venv/bin/python -m bench.state_bytes [--objects 2000] [--transfers 8] [--pg postgresql://USER@HOST:PORT/DB]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import boto3

from tests.servers.process import free_port, start, stop, wait_for_port

MOTO = str(Path(sys.executable).parent / "moto_server")
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def written() -> int:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"])


def redacted(urls: list[str]) -> tuple[str, str]:
    from opcloud.migrate.stores.url import parse

    return parse(urls[0]).redacted(), parse(urls[1]).redacted()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--transfers", type=int, default=8)
    parser.add_argument("--pg", help="a PostgreSQL state URL (no password in it)")
    args = parser.parse_args()
    os.environ.update(CREDS)
    from opcloud.migrate.buckets import engine
    from opcloud.migrate.buckets.pgstate import PgRecord

    with tempfile.TemporaryDirectory(prefix="opcloud-bench-state-") as work:
        port = free_port()
        moto = start([MOTO, "-H", "127.0.0.1", "-p", str(port)], Path(work) / "moto.log")
        try:
            wait_for_port(port, moto, Path(work) / "moto.log")
            endpoint = f"http://127.0.0.1:{port}"
            client = boto3.client("s3", endpoint_url=endpoint)
            for bucket in ("src", "dst"):
                client.create_bucket(Bucket=bucket)
            for number in range(args.objects):
                client.put_object(Bucket="src", Key=f"tenders/{number // 100:04d}/{number:08d}.pdf", Body=b"")
            urls = [f"s3://{bucket}/?endpoint={endpoint}&region=us-east-1" for bucket in ("src", "dst")]
            options = engine.CopyOptions(
                state_dir=Path(work) / "state", transfers=args.transfers, progress=False, state_database=args.pg
            )
            if args.pg:
                PgRecord(args.pg, *redacted(urls), create=True).close()
            before = written()
            report = engine.copy(*urls, options)
            after = written()
            assert report.ok and report.copied == args.objects, report.failed
            print(f"{args.objects} objects copied; written to disk by this process: {after - before} bytes, "
                  f"{(after - before) / args.objects:.0f} bytes per object")
            if args.pg:
                record = PgRecord(args.pg, *redacted(urls))
                print(f"PostgreSQL record: {record.bytes_on_disk() / args.objects:.0f} bytes per object on disk")
                record.close()
        finally:
            stop(moto)


if __name__ == "__main__":
    main()
