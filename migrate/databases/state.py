"""The copy's state file: what is done, so that a rerun after a crash continues instead of starting over.

One small JSON file per (source, target) pair under the state directory, replaced atomically on every
change. It holds redacted endpoints only, never a password. Tables are keyed by (schema, name) as two
identifiers, never by a dotted string: `"x.y".z` and `x."y.z"` are two tables. The file carries a format
version; a file of another version is refused, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from opcloud.errors import InputError
from opcloud.paths import state_home

# Where an earlier version kept database states: relative to the folder it was run from. A pair whose state is
# still there keeps using it (an online copy in flight must not lose its state); new pairs go to the state home.
LEGACY_STATE_DIR = Path(".opcloud/state/databases")


def default_state_dir(source_id: str, target_id: str) -> Path:
    """The state home (opcloud.paths.state_home), unless this pair's state is still in the legacy folder."""
    if state_path(LEGACY_STATE_DIR, source_id, target_id).exists():
        return LEGACY_STATE_DIR
    return state_home()
FORMAT_VERSION = 2  # 1 (no "version" key): tables keyed by a dotted "schema.name" string

TableKey = tuple[str, str]  # (schema, name), unquoted identifiers


class Phase(StrEnum):
    NEW = "new"
    SCHEMA = "schema"
    DATA = "data"
    LARGE_OBJECTS = "large-objects"
    POST_DATA = "post-data"
    SEQUENCES = "sequences"
    VERIFY = "verify"
    VERIFY_FAILED = "verify-failed"  # copied, but the verification found differences: a rerun repairs
    FOLLOWING = "following"
    CUTTING_OVER = "cutting-over"  # the source's write guard may be in place (see `guard` in the state)
    DONE = "done"
    CUT_OVER = "cut-over"


FINISHED = (Phase.DONE, Phase.FOLLOWING, Phase.CUT_OVER, Phase.CUTTING_OVER)


@dataclass
class TableState:
    status: str = "pending"  # pending | started | done
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    ranges: int = 1
    ranges_done: int = 0


@dataclass
class CopyState:
    source: str
    target: str
    mode: str = "offline"  # offline | online
    phase: Phase = Phase.NEW
    schema_done: bool = False
    tables: dict[TableKey, TableState] = field(default_factory=dict)
    post_data_done: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, schema, name) of pg_dump entries
    large_objects_done: int = 0  # every large object with an OID up to this one is copied
    database_settings_done: bool = False
    replication: dict[str, str] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)  # what cutover changed on the source, to undo it exactly
    verified: bool | None = None
    problems: list[str] = field(default_factory=list)  # of the last failed verification
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = FORMAT_VERSION
        data["phase"] = str(self.phase)
        data["tables"] = [{"schema": s, "name": n, **asdict(t)} for (s, n), t in self.tables.items()]
        data["post_data_done"] = [list(entry) for entry in self.post_data_done]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path) -> CopyState:
        version = data.pop("version", 1)
        if version != FORMAT_VERSION:
            raise InputError(
                f"state file {path} has format {version}, this opcloud reads format {FORMAT_VERSION}: finish or "
                "abort that copy with the opcloud that wrote it, or remove the file and empty the target to copy again"
            )
        try:
            tables = {(t.pop("schema"), t.pop("name")): TableState(**t) for t in data.pop("tables", [])}
            post = [(k, s, n) for k, s, n in data.pop("post_data_done", [])]
            return cls(tables=tables, post_data_done=post, phase=Phase(data.pop("phase")), **data)
        except (TypeError, ValueError, KeyError) as error:
            raise InputError(
                f"state file {path} is not a valid copy state ({error}): remove it to start over"
            ) from None


class StateFile:
    """Thread-safe holder of one `CopyState` and its file."""

    def __init__(self, path: Path, state: CopyState, existed: bool) -> None:
        self.path = path
        self.state = state
        self.existed = existed
        self._lock = threading.Lock()

    @classmethod
    def open(cls, state_dir: Path, source_id: str, target_id: str, source: str, target: str) -> StateFile:
        state = load(state_dir, source_id, target_id)
        path = state_path(state_dir, source_id, target_id)
        return cls(path, state or CopyState(source=source, target=target), existed=state is not None)

    def update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self.state, key, value)
            self._save()

    def table(self, key: TableKey, **changes: Any) -> None:
        with self._lock:
            table = self.state.tables.setdefault(key, TableState())
            for name, value in changes.items():
                setattr(table, name, value)
            self._save()

    def post_data_done(self, entry_id: tuple[str, str, str]) -> None:
        with self._lock:
            self.state.post_data_done.append(entry_id)
            self._save()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        self.state.updated_at = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state.to_json(), indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def state_path(state_dir: Path, source_id: str, target_id: str) -> Path:
    digest = hashlib.sha256(f"{source_id}\n{target_id}".encode()).hexdigest()[:16]
    return Path(state_dir) / f"db-{digest}.json"


def load(state_dir: Path, source_id: str, target_id: str) -> CopyState | None:
    path = state_path(state_dir, source_id, target_id)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"state file {path} cannot be read ({error}): remove it to start over") from None
    if not isinstance(data, dict):
        raise InputError(f"state file {path} is not a valid copy state: remove it to start over")
    return CopyState.from_json(data, path)
