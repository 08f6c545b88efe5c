"""A local tree's listing made by a forked child into a SQLite file, while this process lists the other side.

Listing a tree is Python work per file (a stat, a key, a row), so two listings on two threads take as long as
one after the other: the GIL lets one run at a time. A child process lists the target tree on the other core into
a file of its own (the parent's connections are never touched in it); the parent attaches the file and copies the
rows into its work table in one statement. Only for a tree on this machine's file systems, whose listing needs
no client, connection or thread that a fork could leave half-held.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from opcloud.migrate.buckets.state import Row
from opcloud.migrate.stores.base import StoreError

_TABLE = "CREATE TABLE listing (key TEXT, size INTEGER, version TEXT, tag TEXT, name TEXT)"


def can_fork() -> bool:
    """Only a process with one thread forks: a child of a threaded one could wait forever on a lock (of the
    allocator, of SQLite, of a stream) that a vanished thread held at the fork."""
    return threading.active_count() == 1


class ChildListing:
    """A listing being made by a child process: `wait()` for its file (once), or `discard()` it."""

    def __init__(self, pid: int, reader: int, path: Path, what: str) -> None:
        self._pid, self._reader, self.path, self._what = pid, reader, path, what
        self._status: int | None = None
        self._reason = ""

    def wait(self) -> Path:
        """The file the child wrote; StoreError with the child's one-line reason if it failed."""
        if self._status is None:
            with os.fdopen(self._reader, "rb") as pipe:
                self._reason = pipe.read().decode(errors="replace")
            self._status = os.waitpid(self._pid, 0)[1]
        if self._status != 0:
            with contextlib.suppress(OSError):
                os.remove(self.path)
            raise StoreError(f"listing {self._what} failed: {self._reason or f'exit status {self._status}'}")
        return self.path

    def discard(self) -> None:
        """Wait for the child if nobody did, and remove its file: whatever happened, nothing is left behind."""
        with contextlib.suppress(StoreError):
            self.wait()
        with contextlib.suppress(OSError):
            os.remove(self.path)


def list_in_child(rows: Callable[[], Iterable[Row]], what: str) -> ChildListing:
    """Start a child that writes the (key, size, version, change tag) rows `rows()` lists into a new SQLite file, as
    the state's work tables hold them (the name being the key). The caller waits for it, then discards it."""
    handle, name = tempfile.mkstemp(prefix="opcloud-listing-", suffix=".sqlite")
    os.close(handle)
    reader, writer = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: list, write, and leave without running the parent's exit handlers
        code = 0
        try:
            for number in (signal.SIGINT, signal.SIGTERM):  # the parent says "interrupted", once
                signal.signal(number, lambda signum, frame: _leave(name, 128 + signum))
            os.close(reader)
            _write(name, rows())
            if os.getppid() != parent:  # the parent was killed: nobody will read or remove the file
                _leave(name, 1)
        except BaseException as error:  # every failure goes back to the parent, as one line
            code = 1
            with contextlib.suppress(OSError):
                os.write(writer, f"{type(error).__name__}: {error}".splitlines()[0].encode()[:500])
        finally:
            os._exit(code)
    os.close(writer)
    return ChildListing(pid, reader, Path(name), what)


def _leave(path: str, code: int) -> None:
    """End the child without leaving its file behind (Ctrl-C, or a parent that died)."""
    with contextlib.suppress(OSError):
        os.remove(path)
    os._exit(code)


def _write(path: str, rows: Iterable[Row]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")  # a scratch file: a crash leaves it to be removed, never read
    db.execute("PRAGMA synchronous=OFF")
    db.execute(_TABLE)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO listing VALUES (?, ?, ?, ?, ?)",
        ((key, size, version, tag, key) for key, size, version, tag in rows),
    )
    db.execute("COMMIT")
    db.close()
