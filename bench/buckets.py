"""Benchmark: `opcloud migrate copy` against `rclone copy --transfers 16`, S3 (moto server) to Azure (Azurite).

Same servers and data for both tools in one run: 2,000 objects of 64 KiB, then two of 256 MiB, each copied to
an empty container, then again with nothing changed. Each set is first copied once by each tool, untimed (the
servers warm up), then in `--rounds` timed rounds whose tool order alternates. Wall-clock seconds and peak RSS
(from wait4's rusage) of each run, and the ratios of the medians, are printed. Needs `apt-get install -y rclone`
and Azurite in .servers.

    .venv/bin/python -m bench.buckets [--small 2000] [--large 2] [--large-mib 256] [--transfers 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import boto3
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from tests.servers.azurite import ACCOUNT, KEY, AzuriteServer, azurite_argv
from tests.servers.process import free_port, start, stop, wait_for_port

OPCLOUD = str(Path(sys.executable).parent / "opcloud")
MOTO = str(Path(sys.executable).parent / "moto_server")
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of a child process, from wait4's rusage (that child alone)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    out, err = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {err.decode()[-2000:]} {out.decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def server_cpu(moto: subprocess.Popen[bytes], azurite: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU seconds (user + system) each server has used so far: where the time of a run goes."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, process in (("moto", moto), ("azurite", azurite)):
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
    return used


def sdk_floor(env: dict[str, str], endpoint: str, container: str) -> float:
    """Median seconds of the least any Python tool built on boto3 and azure-storage-blob does before it can
    compare anything: start, import both SDKs, create both clients and list one page on each side."""
    program = (
        "import os, boto3\n"
        "from azure.storage.blob import BlobServiceClient\n"
        f"s3 = boto3.client('s3', endpoint_url={endpoint!r}, region_name='us-east-1')\n"
        "s3.list_objects_v2(Bucket='bench', Prefix='large/')\n"
        "service = BlobServiceClient.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING'])\n"
        f"list(service.get_container_client({container!r}).list_blobs())\n"
    )
    return median(timed([sys.executable, "-c", program], env)[0] for _ in range(3))


def populate(s3, bucket: str, small: int, large: int, large_mib: int) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=bucket)
    payload = os.urandom(64 * 1024)

    def put(i: int) -> None:
        s3.put_object(Bucket=bucket, Key=f"small/{i:05d}.bin", Body=payload[i % 997 :] + payload[: i % 997])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(small)))
    with tempfile.NamedTemporaryFile() as handle:
        for i in range(large):
            handle.seek(0)
            for _ in range(large_mib):
                handle.write(os.urandom(1024 * 1024))
            handle.flush()
            s3.upload_file(handle.name, bucket, f"large/{i}.bin")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=2)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--transfers", type=int, default=16)
    parser.add_argument("--sets", default="small,large", help="which data sets to run, comma-separated")
    parser.add_argument("--tools", default="opcloud,rclone", help="which tools to run, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per set; medians are reported")
    parser.add_argument("--opcloud-args", default="", help="extra arguments for opcloud migrate copy")
    args = parser.parse_args()
    if not shutil.which("rclone"):
        raise SystemExit("rclone missing: apt-get install -y rclone")
    root = Path(tempfile.mkdtemp(prefix="bench-buckets-"))
    s3_port, az_port = free_port(), free_port()
    env = {**os.environ, **CREDS}
    env.pop("AWS_CA_BUNDLE", None)
    moto = start([MOTO, "-H", "127.0.0.1", "-p", str(s3_port)], root / "moto.log", env=CREDS)
    azurite = start(azurite_argv(az_port, root / "az"), root / "azurite.log")
    try:
        wait_for_port(s3_port, moto, root / "moto.log")
        wait_for_port(az_port, azurite, root / "azurite.log")
        endpoint = f"http://127.0.0.1:{s3_port}"
        connection = AzuriteServer.connection_string_for(az_port)
        env["AZURE_STORAGE_CONNECTION_STRING"] = connection
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
        )
        print(f"populating: {args.small} x 64 KiB and {args.large} x {args.large_mib} MiB in moto ...", flush=True)
        populate(s3, "bench", args.small, args.large, args.large_mib)
        service = BlobServiceClient.from_connection_string(connection)
        state = root / "state"
        service.create_container("floor")

        def command(tool: str, data_set: str, container: str) -> list[str]:
            service.create_container(container)
            if tool == "opcloud":
                return [
                    OPCLOUD,
                    "migrate",
                    "copy",
                    f"s3://bench/{data_set}/?endpoint={endpoint}&region=us-east-1",
                    f"az://{container}/{data_set}/",
                    "--transfers",
                    str(args.transfers),
                    "--no-progress",
                    "--json",
                    "--state-dir",
                    str(state / container),
                    *args.opcloud_args.split(),
                ]
            sas = generate_container_sas(
                ACCOUNT,
                container,
                account_key=KEY,
                permission=ContainerSasPermissions(
                    read=True, write=True, delete=True, list=True, add=True, create=True
                ),
                expiry=datetime.now(UTC) + timedelta(hours=6),
            )
            env.update(
                {
                    "RCLONE_CONFIG_SRC_TYPE": "s3",
                    "RCLONE_CONFIG_SRC_PROVIDER": "Other",
                    "RCLONE_CONFIG_SRC_ACCESS_KEY_ID": CREDS["AWS_ACCESS_KEY_ID"],
                    "RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY": CREDS["AWS_SECRET_ACCESS_KEY"],
                    "RCLONE_CONFIG_SRC_ENDPOINT": endpoint,
                    "RCLONE_CONFIG_SRC_FORCE_PATH_STYLE": "true",
                    "RCLONE_CONFIG_SRC_REGION": "us-east-1",
                    "RCLONE_CONFIG_DST_TYPE": "azureblob",
                    "RCLONE_CONFIG_DST_SAS_URL": f"http://127.0.0.1:{az_port}/{ACCOUNT}/{container}?{sas}",
                }
            )
            return [
                "rclone",
                "copy",
                f"src:bench/{data_set}",
                f"dst:{container}/{data_set}",
                "--transfers",
                str(args.transfers),
                "--config",
                "/dev/null",
            ]

        tools = args.tools.split(",")
        results: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
        for data_set in args.sets.split(","):
            # Untimed warm-up: the first upload into a fresh Azurite also pays for its JIT compiling the hot
            # paths (a second or more of server CPU), which would fall on whichever tool ran first.
            for tool in tools:
                container = f"warm-{tool}-{data_set}"
                timed(command(tool, data_set, container), env)
                service.delete_container(container)
            for round_number in range(args.rounds):
                # Alternate the order each round: no tool always runs on a server the other has just loaded.
                for tool in tools if round_number % 2 == 0 else tools[::-1]:
                    container = f"{tool}-{data_set}-{round_number}"
                    argv = command(tool, data_set, container)
                    before = server_cpu(moto, azurite)
                    first = timed(argv, env)
                    during = server_cpu(moto, azurite)
                    second = timed(argv, env)
                    service.delete_container(container)
                    servers = ", ".join(f"{name} {during[name] - before[name]:.1f}" for name in during)
                    runs = results.setdefault(data_set, {})
                    runs.setdefault(f"{tool} first", []).append(first)
                    runs.setdefault(f"{tool} rerun", []).append(second)
                    print(
                        f"{data_set:5} {tool:7} round {round_number + 1}: first {first[0]:6.2f} s {first[1]:5.0f} MiB "
                        f"{first[2]:5.1f} CPU s   no-change rerun {second[0]:5.2f} s {second[1]:5.0f} MiB   "
                        f"server CPU s during the first run: {servers}",
                        flush=True,
                    )
        floor = sdk_floor(env, endpoint, "floor")
        print(f"\nPython + boto3 + azure-storage-blob, start to one listing on each side: {floor:.2f} s (median of 3)")
        medians = {
            data_set: {name: (median(r[0] for r in runs), max(r[1] for r in runs)) for name, runs in by_name.items()}
            for data_set, by_name in results.items()
        }
        for data_set, runs in medians.items():
            if len(runs) < 4:
                continue
            o, r, o2 = runs["opcloud first"], runs["rclone first"], runs["opcloud rerun"]
            print(
                f"{data_set} (medians of {args.rounds} rounds): opcloud {o[0]:.2f} s vs rclone {r[0]:.2f} s, "
                f"opcloud/rclone {o[0] / r[0]:.2f} (goal <= 1.00); opcloud rerun {o2[0]:.2f} s, rerun/first "
                f"{o2[0] / o[0]:.3f} (goal < 0.10), rclone rerun/first {runs['rclone rerun'][0] / r[0]:.3f}; "
                f"peak RSS opcloud {o[1]:.0f} MiB vs rclone {r[1]:.0f} MiB; that SDK floor is "
                f"{floor / r[0]:.3f} of rclone's first run"
            )
        print(
            json.dumps(
                {
                    "sets": {
                        data_set: {
                            name: {"seconds": round(v[0], 2), "peak_mib": round(v[1])} for name, v in runs.items()
                        }
                        for data_set, runs in medians.items()
                    },
                    "sdk_floor_seconds": round(floor, 2),
                }
            )
        )
    finally:
        stop(moto)
        stop(azurite)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
