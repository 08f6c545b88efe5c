"""The bucket copy engine: list both sides into SQLite, diff against the state, copy in parallel, verify.

A run: open and check both stores (nothing is written if either is wrong) -> stream both listings into the
state's work tables -> plan what to copy, verify or delete -> workers copy each object (retrying transient
failures with backoff; an interrupted multipart upload resumes) -> verification -> report.

Verification: our SHA-256 of every object is computed while it streams and stored in the state and in the
target's metadata. Where the target checks an MD5 we send with every write and block (Azure), a successful
write proves the bytes arrived intact; everywhere else (S3, SFTP, files, server-side copies), and for every
object with `read_back`, the object is read back from the target and its SHA-256 compared.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from migrate import transfer
from migrate.progress import Progress
from migrate.report import CopyReport, Failure, VerifyReport
from migrate.state import StateDB, Todo, state_path
from migrate.stores import metakeys
from migrate.stores.base import SHA256_KEY, ObjectInfo, Store, StoreError
from migrate.stores.registry import open_store
from migrate.stores.tree import TreeStore, check_key
from opcloud.errors import OpcloudError

T = TypeVar("T")


@dataclass
class CopyOptions:
    state_dir: Path
    transfers: int = 8
    part_size: int = 8 * 1024 * 1024  # objects larger than this go in resumable parts
    memory: int = 128 * 1024 * 1024  # bound on part buffers alive at once, all transfers together
    bwlimit: int | None = None  # bytes per second
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    dry_run: bool = False
    delete: bool = False  # delete target objects that are not in the source
    retries: int = 5
    server_side: bool = True
    read_back: bool = False  # read back even objects the target checked in transit
    progress: bool = True


def _selected(include: list[str], exclude: list[str]) -> Callable[[str], bool]:
    """`*` matches across `/` (fnmatch): `*.pdf`, `2024/*`, `tenders/*/signature.p7s`."""

    def keep(key: str) -> bool:
        if include and not any(fnmatch.fnmatchcase(key, pattern) for pattern in include):
            return False
        return not any(fnmatch.fnmatchcase(key, pattern) for pattern in exclude)

    return keep


def _filtered(infos: Iterable[ObjectInfo], keep: Callable[[str], bool]) -> Iterator[ObjectInfo]:
    return (info for info in infos if keep(info.key))


def _open_checked(url: str) -> Store:
    store = open_store(url)
    try:
        store.check()
    except BaseException:
        store.close()
        raise
    return store


def open_pair(source_url: str, target_url: str) -> tuple[Store, Store]:
    """Open and check both stores, at once (one's round trips overlap the other's imports); any bad URL, missing
    bucket or refused credential raises (the source's error first) before any write."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="open") as pool:
        opening = [pool.submit(_open_checked, url) for url in (source_url, target_url)]
    errors = [future.exception() for future in opening]
    if any(errors):
        for future, error in zip(opening, errors, strict=True):
            if error is None:
                future.result().close()
        raise next(error for error in errors if error is not None)
    return opening[0].result(), opening[1].result()


def _load_listings(state: StateDB, source: Store, target: Store, keep: Callable[[str], bool]) -> tuple[int, int]:
    """Both listings into the state at once (each waits mostly on its own server); the source's (count, bytes)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list") as pool:
        target_listing = pool.submit(state.load_listing, "dst", _filtered(target.list(), keep))
        listed = state.load_listing("src", _filtered(source.list(), keep))  # its error first; the pool still waits
        target_listing.result()
    return listed


def _retrying(action: Callable[[], T], retries: int) -> T:
    """`action()`, retrying everything but permanent errors with exponential backoff and jitter."""
    for attempt in range(retries):
        try:
            return action()
        except (StoreError, OpcloudError):
            raise
        except Exception:
            time.sleep(min(10.0, 0.2 * 2**attempt) * (0.5 + random.random()))
    return action()  # the last attempt: its error propagates


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]


def verify_object(ctx: transfer.Context, key: str, size: int, expected_sha: str) -> str | None:
    """Read the target back; None when it matches `expected_sha` in content and in its metadata."""
    head, stream = transfer.fetch(ctx.target, key, ctx.fetch_target)  # one GET where it can: metadata, content
    if head is None or stream is None:
        return "missing in the target"
    if head.size != size:
        stream.close()
        return f"size {head.size} in the target, {size} in the source"
    stored = (head.metadata or {}).get(SHA256_KEY)
    if stored != expected_sha:
        stream.close()
        return f"target metadata {SHA256_KEY}={stored!r} differs from the source's SHA-256"
    actual = transfer.hash_stream(ctx, ctx.target, key, size, count=False, stream=stream)
    if actual != expected_sha:
        return f"content SHA-256 {actual[:12]}... differs from the source's {expected_sha[:12]}..."
    return None


def _maps_metadata_keys(target: Store) -> bool:
    """Whether the target renames metadata keys it cannot hold (Azure wants C# identifiers). An attribute, not
    isinstance(target, AzureStore): that would import the Azure SDK (~0.15 s) into copies that never use it."""
    return bool(getattr(target, "maps_metadata_keys", False))


def _map_report(metadata: dict[str, str] | None, seen: set[str], lock: threading.Lock) -> None:
    if metadata:
        _, mapped = metakeys.to_identifiers(metadata)
        if mapped:
            with lock:
                seen.update(mapped)


def copy(source_url: str, target_url: str, options: CopyOptions) -> CopyReport:
    """Copy every (selected) object of `source_url` to `target_url`; see the module docstring."""
    started = time.monotonic()
    source, target = open_pair(source_url, target_url)
    report = CopyReport(source=source.url, target=target.url, dry_run=options.dry_run)
    path = state_path(options.state_dir, source.url, target.url)
    if options.dry_run and not path.exists():
        state = StateDB.empty()  # a dry run on a pair never copied writes nothing, not even a state file
    else:
        state = StateDB(path, source.url, target.url, readonly=False)
    progress = Progress(enabled=options.progress)
    try:
        keep = _selected(options.include, options.exclude)
        with progress.listing(source.url):
            report.listed, report.listed_bytes = _load_listings(state, source, target, keep)
        plan = state.plan(delete_extra=options.delete)
        to_copy = plan.get("copy", (0, 0))
        report.unchanged = report.listed - to_copy[0] - plan.get("verify", (0, 0))[0]
        if options.dry_run:
            report.copied, report.copied_bytes = to_copy
            report.deleted = plan.get("delete", (0, 0))[0]
            return report
        _run(source, target, state, options, report, progress, to_copy)
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        progress.close()
        state.close()
        source.close()
        target.close()
    return report


def _run(
    source: Store,
    target: Store,
    state: StateDB,
    options: CopyOptions,
    report: CopyReport,
    progress: Progress,
    to_copy: tuple[int, int],
) -> None:
    lock = threading.Lock()
    mapped: set[str] = set()
    buffers = max(2, options.memory // max(options.part_size, 1))

    def resumed() -> None:
        with lock:
            report.resumed_parts += 1

    ctx = transfer.Context(
        source=source,
        target=target,
        state=state,
        bandwidth=transfer.Bandwidth(options.bwlimit),
        buffers=transfer.Buffers(buffers),
        part_size=options.part_size,
        on_bytes=progress.advance_bytes,
        on_resumed_part=resumed,
        server_side=options.server_side,
        read_back=options.read_back,
    )
    progress.start_copy(to_copy[0], to_copy[1])
    tree_target = isinstance(target, TreeStore)
    maps_keys = _maps_metadata_keys(target)

    def work(item: Todo) -> None:
        try:
            if item.action == "delete":
                _retrying(lambda: target.delete(item.key), options.retries)
                with lock:
                    report.deleted += 1
                return
            if tree_target:
                try:
                    check_key(item.key)
                except StoreError as error:
                    with lock:
                        report.skipped.append(Failure(item.key, str(error)))
                    return
            sha = state.known_sha(item.key, item.size, item.version) if item.action == "verify" else None
            if sha is None:
                sha, info = _retrying(
                    lambda: transfer.copy_object(ctx, item.key, item.size, item.version), options.retries
                )
                if maps_keys:
                    _map_report(info.metadata, mapped, lock)
                with lock:
                    report.copied += 1
                    report.copied_bytes += item.size
                    report.server_side += ctx.copy_target
                    report.verified_in_transit += ctx.checked_in_transit
                progress.object_done()
                if ctx.checked_in_transit:
                    return
            problem = _retrying(lambda: verify_object(ctx, item.key, item.size, sha), options.retries)
            if problem is not None:
                state.forget(item.key)  # the next run copies it again
                with lock:
                    report.failed.append(Failure(item.key, f"verification failed: {problem}"))
                return
            state.record_verified(item.key)
            with lock:
                report.verified_read_back += 1
        except Exception as error:  # one object's failure is reported; the others go on
            with lock:
                report.failed.append(Failure(item.key, _reason(error)))

    _parallel(state.todo(), work, options.transfers)
    report.metadata_keys_mapped = sorted(mapped)


def _parallel(items: Iterator[Todo], work: Callable[[Todo], None], transfers: int) -> None:
    """Run `work` (which handles its own errors) over a stream of items: at most `transfers` running and as many
    queued, so a long listing is never all in memory. A semaphore, not wait() on futures: that costs per call."""
    slots = threading.BoundedSemaphore(transfers * 2)

    def run(item: Todo) -> None:
        try:
            work(item)
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=transfers, thread_name_prefix="transfer") as pool:
        for item in items:
            slots.acquire()
            pool.submit(run, item)


def verify(
    source_url: str,
    target_url: str,
    state_dir: Path | None,
    transfers: int = 8,
    progress: bool = True,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> VerifyReport:
    """Compare every source object with the target by reading the target back (never trusting ETags).

    The source's SHA-256 comes from the state database when the object is unchanged since it was copied;
    otherwise the source is read too.
    """
    source, target = open_pair(source_url, target_url)
    report = VerifyReport(source=source.url, target=target.url)
    path = state_path(state_dir, source.url, target.url) if state_dir else None
    state = StateDB(path, source.url, target.url, readonly=True) if path and path.exists() else StateDB.empty()
    bar = Progress(enabled=progress)
    lock = threading.Lock()
    ctx = transfer.Context(
        source=source,
        target=target,
        state=state,
        bandwidth=transfer.Bandwidth(None),
        buffers=transfer.Buffers(1),
        part_size=0,
        on_bytes=bar.advance_bytes,
        on_resumed_part=lambda: None,
    )
    try:
        with bar.listing(source.url):
            keep = _selected(include or [], exclude or [])
            report.objects, report.bytes = _load_listings(state, source, target, keep)
        report.extra = state.extra_count()
        bar.start_copy(report.objects, report.bytes)

        def work(item: Todo) -> None:
            try:
                if item.action == "missing":
                    with lock:
                        report.missing.append(item.key)
                    return
                sha = state.known_sha(item.key, item.size, item.version)

                def check() -> str | None:
                    nonlocal sha  # a source hashed once is not hashed again on a retry
                    if sha is None:
                        sha = transfer.hash_stream(ctx, source, item.key, item.size)
                    return verify_object(ctx, item.key, item.size, sha)

                problem = _retrying(check, 3)
                with lock:
                    if problem is None:
                        report.verified += 1
                    else:
                        report.mismatched.append(Failure(item.key, problem))
            except Exception as error:
                with lock:
                    report.mismatched.append(Failure(item.key, _reason(error)))
            finally:
                bar.object_done()

        items = (
            Todo(key, size, version, "missing" if dst is None else "verify")
            for key, size, version, dst in state.pairs()
        )
        _parallel(items, work, transfers)
    finally:
        bar.close()
        state.close()
        source.close()
        target.close()
    report.missing.sort()
    report.mismatched.sort(key=lambda failure: failure.key)
    return report
