"""The copy's state file: what is done, so that a rerun after a crash continues instead of starting over.

One small JSON file per (source, target) pair under the state directory, replaced atomically on every
change. It holds redacted endpoints only, never a password.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(".opcloud/state/databases")


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
    phase: str = "new"  # new | schema | data | post-data | sequences | verify | following | done | cut-over
    schema_done: bool = False
    tables: dict[str, TableState] = field(default_factory=dict)
    post_data_done: list[str] = field(default_factory=list)
    replication: dict[str, str] = field(default_factory=dict)
    verified: bool | None = None
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CopyState:
        tables = {k: TableState(**v) for k, v in data.pop("tables", {}).items()}
        return cls(tables=tables, **data)


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

    def table(self, key: str, **changes: Any) -> None:
        with self._lock:
            table = self.state.tables.setdefault(key, TableState())
            for name, value in changes.items():
                setattr(table, name, value)
            self._save()

    def post_data_done(self, entry_id: str) -> None:
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
    return CopyState.from_json(json.loads(path.read_text()))
