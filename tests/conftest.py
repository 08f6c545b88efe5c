"""Shared fixtures. Each real server (PostgreSQL, S3, Azurite, sshd, ...) has its own module in
tests/servers/ with session-scoped fixtures, so one server serves the whole test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_SERVERS = Path(__file__).parent / "servers"

pytest_plugins = sorted(
    f"tests.servers.{module.stem}"
    for module in _SERVERS.glob("*.py")
    if not module.stem.startswith("_") and module.stem != "process"
)


@pytest.fixture(autouse=True, scope="session")
def _state_home_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Copies without --state-dir keep their state in the state home: never the real one of whoever runs the tests."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
