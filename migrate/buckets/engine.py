"""The bucket copy engine: list both sides into SQLite, diff against the state, copy in parallel, verify.

A run: check residency (with a jurisdiction) -> open and check both stores (nothing is written if either is
wrong) -> stream both listings (of one key range `[lo, hi)` when given: a shard) into the state's work tables
-> plan what to copy, verify or delete -> workers copy each object (retrying transient failures with backoff;
an interrupted multipart upload resumes) -> verification -> report.

Keys the target cannot hold faithfully, and keys that would land on one target name, are refused by name after
the listings and before anything is written (migrate/stores/keys.py); uploads left by an earlier run whose source
is gone or changed are aborted, and partial files no upload needs are removed.

Verification checks "the same object" (migrate/sameobject.py): our SHA-256 of every object is computed while it
streams and stored in the state and in the target's metadata. Each write says what it proves (WriteResult.proof):
the target checked a checksum we sent of every byte (S3 on AWS with x-amz-checksum-sha256, Azure blocks with
Content-MD5), or a file tree hashed the bytes as they went to the file; then a HEAD compares the properties. A
single PUT to Azure is proven in batches from one listing each: the MD5 the service computed of what it stored is
ours of the bytes sent, and the listed properties match (digests.py). Everywhere else, for any object a listing
does not prove, and for every object with `read_back`, the object is read back from the target: its SHA-256,
content type, system headers and user metadata compared with the source's. An object read back different right
after our write is sent again. The report counts the objects of each proof.

Between two local trees, files up to a part's size take the fast path (treecopy.py: one loop on the calling
thread, same guarantees), and the target tree is listed by a forked child beside the source's listing
(forklisting.py).
"""

from __future__ import annotations

import fnmatch
import functools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from opcloud.migrate.buckets import digests, forklisting, transfer, treecopy
from opcloud.migrate.buckets.keyrange import KeyRange
from opcloud.migrate.buckets.progress import Progress
from opcloud.migrate.buckets.report import CopyReport, Failure, Planned, VerifyReport
from opcloud.migrate.buckets.sameobject import carried, user_metadata
from opcloud.migrate.buckets.state import Row, StateDB, Todo, change_tag, state_path
from opcloud.migrate.residency import check_within
from opcloud.migrate.stores.base import (
    HASHED_WHILE_WRITTEN,
    SERVICE_DIGEST,
    SHA256_KEY,
    MultipartStore,
    ObjectInfo,
    PartialFilesStore,
    RootCreatingStore,
    ServiceDigestStore,
    Store,
    StoreError,
)
from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.tree import TreeStore

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
    check_metadata: bool = False  # a HEAD per unchanged object on both sides: sees every change of properties
    progress: bool = True
    key_range: KeyRange | None = None  # only keys in [lo, hi): listed on both sides by range, never in full
    jurisdiction: str | None = None  # the target must lie inside: checked here too, on every worker
    sweep_partials: bool = True  # False for a shard: other shards' partial files on a shared tree are alive
    state_database: str | None = None  # postgresql://USER@HOST/DB: the pair's state of record (distributed)


def _every_key(key: str) -> bool:
    return True


def _selected(include: list[str], exclude: list[str]) -> Callable[[str], bool]:
    """`*` matches across `/` (fnmatch): `*.pdf`, `2024/*`, `tenders/*/signature.p7s`."""
    if not include and not exclude:
        return _every_key  # recognised by _rows: a listing passes through without a call per key

    def keep(key: str) -> bool:
        if include and not any(fnmatch.fnmatchcase(key, pattern) for pattern in include):
            return False
        return not any(fnmatch.fnmatchcase(key, pattern) for pattern in exclude)

    return keep


def _in_range(keep: Callable[[str], bool], key_range: KeyRange | None) -> Callable[[str], bool]:
    if key_range is None:
        return keep
    return lambda key: key_range.contains(key) and keep(key)


def _listing(store: Store, key_range: KeyRange | None) -> Iterator[ObjectInfo]:
    """The store's objects, only those of `key_range` when given (pushed down to the store as bounds)."""
    if key_range is None:
        return store.list()
    return store.list(key_range.common_prefix(), start_after=key_range.start_after(), stop_before=key_range.hi)


def _rows(store: Store, key_range: KeyRange | None, keep: Callable[[str], bool]) -> Iterable[Row]:
    """The store's (selected) objects as the state loads them: (key, size, version, change tag), a local tree's
    straight from its walk (no ObjectInfo per file)."""
    if not isinstance(store, TreeStore) or not treecopy.local_tree(store):
        return ((i.key, i.size, i.version, change_tag(i)) for i in _listing(store, key_range) if keep(i.key))
    if key_range is None:
        rows = store.rows()
    else:
        rows = store.rows(key_range.common_prefix(), start_after=key_range.start_after(), stop_before=key_range.hi)
    return rows if keep is _every_key else (row for row in rows if keep(row[0]))


def _open_checked(url: str) -> Store:
    store = open_store(url)
    try:
        store.check()
    except BaseException:
        store.close()
        raise
    return store


def open_pair(
    source_url: str, target_url: str, missing_target_tree: Literal["refuse", "create", "empty"] = "refuse"
) -> tuple[Store, Store]:
    """Open and check both stores, at once (one's round trips overlap the other's imports); any bad URL, missing
    bucket or refused credential raises (the source's error first) before any write. A target directory tree
    that does not exist yet is refused, created once the source has answered (a copy), or taken as empty
    (a dry run, which writes nothing)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="open") as pool:
        opening = [pool.submit(_open_checked, url) for url in (source_url, target_url)]
    errors = [future.exception() for future in opening]
    if errors[0] is None and errors[1] is not None and missing_target_tree != "refuse":
        target = _missing_tree(target_url, create=missing_target_tree == "create")
        if target is not None:
            return opening[0].result(), target
    if any(errors):
        for future, error in zip(opening, errors, strict=True):
            if error is None:
                future.result().close()
        raise next(error for error in errors if error is not None)
    return opening[0].result(), opening[1].result()


def _missing_tree(url: str, create: bool) -> Store | None:
    """The target tree whose root is missing, created (or left to list as empty); None if it is no tree."""
    store = open_store(url)
    if not isinstance(store, RootCreatingStore):
        store.close()
        return None
    if not create:
        return store
    try:
        store.create_root()
        store.check()
    except BaseException:
        store.close()
        raise
    return store


def _start_target_listing(
    target: Store, keep: Callable[[str], bool], key_range: KeyRange | None = None
) -> forklisting.ChildListing | None:
    """A local target tree listed by a forked child on the other core (forklisting.py), started before a progress
    display starts its thread; None where that does not apply (the listing is then made on a thread)."""
    if treecopy.local_tree(target) and forklisting.can_fork():
        return forklisting.list_in_child(lambda: _rows(target, key_range, keep), target.url)
    return None


def _load_listings(
    state: StateDB,
    source: Store,
    target: Store,
    keep: Callable[[str], bool],
    key_range: KeyRange | None = None,
    child: forklisting.ChildListing | None = None,
) -> tuple[int, int]:
    """Both listings into the state at once (each waits mostly on its own server, or the target's is made by a
    `child`); the source's (count, bytes). Source keys the target cannot hold, or would hold under one name, are
    recorded as refused. With `key_range` both sides list only that range (`keep` must then hold only keys inside
    it)."""
    rules = target.features.keys
    if child is not None:
        try:  # the source's error first; the child's file removed either way
            listed = state.load_rows("src", _rows(source, key_range, keep), target_keys=rules)
            state.load_listing_file("dst", child.wait())
        finally:
            child.discard()
    else:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list") as pool:
            target_listing = pool.submit(state.load_rows, "dst", _rows(target, key_range, keep))
            # The source's error first; the pool still waits.
            listed = state.load_rows("src", _rows(source, key_range, keep), target_keys=rules)
            target_listing.result()
    # Two keys meet on one name only where the target renames keys; a key that is a file where another needs a
    # folder (`a`, `a/b`) only from a store that is no tree itself (or through renaming): other checks are void.
    renamed = rules.renames
    folders_clash = rules.file_tree and (renamed or not source.features.keys.file_tree)
    state.refuse_collisions(file_tree=folders_clash, renamed=renamed)
    return listed


def _clean_up(state: StateDB, target: Store, keep: Callable[[str], bool], retries: int, sweep: bool = True) -> None:
    """Abort uploads whose source is gone or changed (S3 bills kept parts), drop their rows, and remove partial
    files no remaining upload needs. Before any copy, so nothing of this run is touched. Uploads of keys this
    run does not select (--include/--exclude) are not judged: they were not listed."""
    for key, upload_id in state.stale_uploads():
        if not keep(key):
            continue
        if isinstance(target, MultipartStore):
            _retrying(lambda k=key, u=upload_id: target.abort_upload(k, u), retries)  # type: ignore[misc]
        state.end_upload(key)
    if sweep and isinstance(target, PartialFilesStore):
        target.sweep_partials(state.upload_ids())


_RESENDS = 2  # an object read back different right after we wrote it is sent again, at most this often


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


def _stored_sha(head: ObjectInfo, expected_sha: str) -> str | None:
    stored = (head.metadata or {}).get(SHA256_KEY)
    if stored != expected_sha:
        return f"target metadata {SHA256_KEY}={stored!r} differs from the source's SHA-256"
    return None


def verify_object(ctx: transfer.Context, expected: ObjectInfo, expected_sha: str) -> str | None:
    """Read the target back; None when it is the same object as `expected` (the source's info) with content
    `expected_sha`: size, content, our stored SHA-256 and every property the pair carries."""
    key, size = expected.key, expected.size
    head, stream = transfer.fetch(ctx.target, key, ctx.fetch_target)  # one GET where it can: metadata, content
    if head is None or stream is None:
        return "missing in the target"
    problem = (
        (f"size {head.size} in the target, {size} in the source" if head.size != size else None)
        or _stored_sha(head, expected_sha)
        or transfer.check_properties(ctx, expected, head)
    )
    if problem is not None:
        stream.close()
        return problem
    actual = transfer.hash_stream(ctx, ctx.target, key, size, count=False, stream=stream)
    if actual != expected_sha:
        return f"content SHA-256 {actual[:12]}... differs from the source's {expected_sha[:12]}..."
    return None


def verify_properties(ctx: transfer.Context, expected: ObjectInfo, expected_sha: str) -> str | None:
    """After a write whose bytes the target checked in transit: a HEAD, and the properties compared."""
    head = ctx.target.head(expected.key)
    if head is None:
        return "missing in the target"
    if head.size != expected.size:
        return f"size {head.size} in the target, {expected.size} in the source"
    return _stored_sha(head, expected_sha) or transfer.check_properties(ctx, expected, head)


def _unchanged(ctx: transfer.Context, item: Todo, recorded_tag: str) -> bool:
    """--check-metadata (and the one-time check of a legacy-tagged object): whether source and target still
    hold the same properties (a HEAD each)."""
    source, target = ctx.source.head(item.key), ctx.target.head(item.key)
    if source is None or target is None or (source.size, source.version) != (item.size, item.version):
        return False
    sha = ctx.state.known_sha(item.key, item.size, recorded_tag)
    if sha is None or _stored_sha(target, sha) is not None:
        return False
    return transfer.check_properties(ctx, source, target) is None


def copy(source_url: str, target_url: str, options: CopyOptions) -> CopyReport:
    """Copy every (selected) object of `source_url` to `target_url`; see the module docstring."""
    started = time.monotonic()
    if options.jurisdiction:
        check_within(options.jurisdiction, [target_url])  # every caller, every worker: before a store is opened
    source, target = open_pair(source_url, target_url, "empty" if options.dry_run else "create")
    report = CopyReport(source=source.url, target=target.url, dry_run=options.dry_run)
    try:
        state = _open_state(options, source.url, target.url)
    except BaseException:
        source.close()
        target.close()
        raise
    progress = Progress(enabled=options.progress)
    try:
        keep = _in_range(_selected(options.include, options.exclude), options.key_range)
        child = _start_target_listing(target, keep, options.key_range)
        try:
            with progress.listing(source.url):
                listed = _load_listings(state, source, target, keep, options.key_range, child)
                report.listed, report.listed_bytes = listed
        finally:
            if child is not None:
                child.discard()
        report.refused = [Failure(key, reason) for key, reason in state.refused()]
        pair = carried(source.features, target.features)
        report.carried, report.not_carried = list(pair.carried), list(pair.not_carried)
        plan = state.plan(delete_extra=options.delete, check_metadata=options.check_metadata)
        to_copy = plan.get("copy", (0, 0))
        report.unchanged = report.listed - len(report.refused) - to_copy[0] - plan.get("verify", (0, 0))[0]
        if options.dry_run:
            report.copied, report.copied_bytes = to_copy
            report.deleted = plan.get("delete", (0, 0))[0]
            report.would = _would(state)
            return report
        _run(source, target, state, options, report, progress, to_copy, to_copy[0] + plan.get("verify", (0, 0))[0])
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        progress.close()
        state.close()
        source.close()
        target.close()
    return report


def _open_state(options: CopyOptions, source_url: str, target_url: str) -> StateDB:
    """The pair's state: the SQLite file on one machine, or the slice of the PostgreSQL record for this range."""
    if options.state_database:
        from opcloud.migrate.buckets.pgstate import PgRecord

        if options.dry_run and not PgRecord.exists(options.state_database, source_url, target_url):
            return StateDB.empty()
        record = PgRecord(options.state_database, source_url, target_url, create=not options.dry_run)
        try:
            return StateDB.over(record, options.key_range or KeyRange())
        except BaseException:
            record.close()
            raise
    path = state_path(options.state_dir, source_url, target_url)
    if options.dry_run and not path.exists():
        return StateDB.empty()  # a dry run on a pair never copied writes nothing, not even a state file
    return StateDB(path, source_url, target_url, readonly=False)


DRY_RUN_LISTED = 1000  # keys a dry run names; the counts cover all


def _would(state: StateDB) -> list[Planned]:
    """What a dry run would do, key by key (the first DRY_RUN_LISTED): `copy`, `verify` or `delete`."""
    named = []
    for item in state.todo():
        if item.action in ("copy", "verify", "delete"):
            named.append(Planned(item.key, item.action))
            if len(named) == DRY_RUN_LISTED:
                break
    return named


def _run(
    source: Store,
    target: Store,
    state: StateDB,
    options: CopyOptions,
    report: CopyReport,
    progress: Progress,
    to_copy: tuple[int, int],
    to_verify: int,
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
    progress.start_copy(to_copy[0], to_copy[1], to_verify)
    keep = _in_range(_selected(options.include, options.exclude), options.key_range)
    _clean_up(state, target, keep, options.retries, options.sweep_partials)
    metadata_keys = target.features.metadata_keys
    batches = digests.Batches() if ctx.service_digest else None

    def copy_once(item: Todo) -> transfer.Copied:
        copied = _retrying(
            lambda: transfer.copy_object(ctx, item.key, item.size, item.version, item.tag), options.retries
        )
        if metadata_keys is not None and copied.info.metadata:
            with lock:
                mapped.update(metadata_keys.mapped(user_metadata(copied.info)))
        return copied

    def copy_and_verify(item: Todo) -> None:
        sha = state.known_sha(item.key, item.size, item.tag) if item.action == "verify" else None
        if sha is not None:  # copied by an earlier run, not verified: read back
            settle(item, None, sha, None)
            return
        copied = copy_once(item)
        with lock:
            report.copied += 1
            report.copied_bytes += item.size
            report.server_side += ctx.copy_target
        progress.object_done()
        if batches is not None and copied.md5 is not None:
            batch = batches.add(digests.Awaiting(item, copied))
            if batch is not None:
                confirm(batch)
            return
        settle(item, copied.info, copied.sha, copied.proof)

    def settle(item: Todo, info: ObjectInfo | None, sha: str, proof: str | None) -> None:
        """Verify one object and record the outcome. Where the write proved its bytes, a HEAD compares the
        properties; else (and with --read-back) a read-back. One this run wrote (`info`) that reads back different
        right after (bytes damaged on the way) is sent again."""
        problem: str | None = None
        for attempt in range(_RESENDS + 1):
            if attempt:
                with lock:
                    report.resent += 1
                copied = copy_once(item)
                sha, info, proof = copied.sha, copied.info, copied.proof
            expected = info or ctx.source.head(item.key)
            if expected is None:
                raise StoreError(f"{item.key}: no longer in the source")
            check = verify_properties if proof and not ctx.read_back else verify_object
            problem = _retrying(functools.partial(check, ctx, expected, sha), options.retries)
            if problem is None or info is None:
                break
        progress.object_verified()
        if problem is not None:
            state.forget(item.key)  # the next run copies it again
            with lock:
                report.failed.append(Failure(item.key, f"verification failed: {problem}"))
            return
        state.record_verified(item.key)
        with lock:
            report.count_proof(None if ctx.read_back else proof)

    def confirm(batch: list[digests.Awaiting]) -> None:
        """Prove a batch of single PUTs from one listing of the target; settle the rest one by one (read-back)."""
        assert isinstance(target, ServiceDigestStore)
        try:
            keys = [awaiting.item.key for awaiting in batch]
            listed = _retrying(lambda: target.list_digests(keys), options.retries)
        except Exception:  # no listing proves nothing: each is read back
            listed = {}
        for awaiting in batch:
            item = awaiting.item
            try:
                if digests.unproven(ctx, awaiting, listed.get(item.key)) is None:
                    progress.object_verified()
                    state.record_verified(item.key)
                    with lock:
                        report.count_proof(SERVICE_DIGEST)
                    continue
                settle(item, awaiting.copied.info, awaiting.copied.sha, None)
            except Exception as error:
                with lock:
                    report.failed.append(Failure(item.key, _reason(error)))

    def work(item: Todo) -> None:
        try:
            if item.action == "delete":
                _retrying(lambda: target.delete(item.key), options.retries)
                with lock:
                    report.deleted += 1
                return
            if item.action in ("check", "retag"):
                recorded_tag = item.version if item.action == "retag" else item.tag
                if _retrying(lambda: _unchanged(ctx, item, recorded_tag), options.retries):
                    if item.action == "retag":
                        state.renew_tag(item.key, item.tag)
                    return
                with lock:
                    report.unchanged -= 1
                item = Todo(item.key, item.size, item.version, "copy", item.tag)
            copy_and_verify(item)
        except Exception as error:  # one object's failure is reported; the others go on
            with lock:
                report.failed.append(Failure(item.key, _reason(error)))

    fast = _tree_copier(ctx, options)

    def general(items: Iterator[Todo]) -> Iterator[Todo]:
        """The items for the general path: on two local trees, each small file is copied here, on this thread,
        and handed on only if the fast path failed on it (the general path retries and reports)."""
        for item in items:
            if fast is None or not fast.takes(item):
                yield item
                continue
            try:
                fast.copy(item)
            except Exception:
                yield item
                continue
            with lock:
                report.copied += 1
                report.copied_bytes += item.size
                report.count_proof(HASHED_WHILE_WRITTEN)
            progress.object_done()
            progress.object_verified()

    _parallel(general(state.todo()), work, options.transfers)
    if batches is not None:
        confirm(batches.rest())
    report.metadata_keys_mapped = sorted(mapped)


def _tree_copier(ctx: transfer.Context, options: CopyOptions) -> treecopy.TreeCopier | None:
    """The fast path between two local trees (treecopy.py), unless asked to read every object back."""
    if options.read_back or not treecopy.local_trees(ctx.source, ctx.target):
        return None
    if ctx.target.features.metadata_keys is not None:
        return None  # a target that maps metadata keys: the general path reports the mapping
    return treecopy.TreeCopier(ctx)


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


def _verify_state(state_dir: Path | None, state_database: str | None, source_url: str, target_url: str) -> StateDB:
    """Where verify finds the source's recorded SHA-256s (read only: verify writes nothing)."""
    if state_database:
        from opcloud.migrate.buckets.pgstate import PgRecord

        if not PgRecord.exists(state_database, source_url, target_url):
            return StateDB.empty()
        record = PgRecord(state_database, source_url, target_url)
        try:
            return StateDB.over(record, KeyRange())
        except BaseException:
            record.close()
            raise
    path = state_path(state_dir, source_url, target_url) if state_dir else None
    return StateDB(path, source_url, target_url, readonly=True) if path and path.exists() else StateDB.empty()


def verify(
    source_url: str,
    target_url: str,
    state_dir: Path | None,
    transfers: int = 8,
    progress: bool = True,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    state_database: str | None = None,
) -> VerifyReport:
    """Compare every source object with the target by reading the target back (never trusting ETags): bytes
    (SHA-256) and every property the pair carries (sameobject), the source's taken from a HEAD.

    The source's SHA-256 comes from the state database when the object is unchanged since it was copied;
    otherwise the source is read too.
    """
    source, target = open_pair(source_url, target_url)
    report = VerifyReport(source=source.url, target=target.url)
    try:
        state = _verify_state(state_dir, state_database, source.url, target.url)
    except BaseException:
        source.close()
        target.close()
        raise
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
        keep = _selected(include or [], exclude or [])
        child = _start_target_listing(target, keep)
        try:
            with bar.listing(source.url):
                report.objects, report.bytes = _load_listings(state, source, target, keep, child=child)
        finally:
            if child is not None:
                child.discard()
        report.extra = state.extra_count()
        report.carried, report.not_carried = list(ctx.properties.carried), list(ctx.properties.not_carried)
        bar.start_verify(report.objects, report.bytes)

        def work(item: Todo) -> None:
            try:
                if item.action == "missing":
                    with lock:
                        report.missing.append(item.key)
                    return
                sha = state.known_sha(item.key, item.size, item.tag)

                def check() -> str | None:
                    nonlocal sha  # a source hashed once is not hashed again on a retry
                    expected = source.head(item.key)
                    if expected is None:
                        return "no longer in the source"
                    if sha is None:
                        sha = transfer.hash_stream(ctx, source, item.key, item.size)
                    return verify_object(ctx, expected, sha)

                problem = _retrying(check, 3)
                with lock:
                    if problem is None and ctx.properties.complete:
                        report.verified += 1
                    elif problem is None:
                        report.verified_partially += 1
                    else:
                        report.mismatched.append(Failure(item.key, problem))
            except Exception as error:
                with lock:
                    report.mismatched.append(Failure(item.key, _reason(error)))
            finally:
                bar.object_verified()

        items = (
            Todo(key, size, version, "missing" if dst is None else "verify", tag)
            for key, size, version, dst, tag in state.pairs()
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
