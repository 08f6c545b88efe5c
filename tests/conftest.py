"""Shared fixtures. Each real server (PostgreSQL, S3, Azurite, sshd, ...) has its own module in
tests/servers/ with session-scoped fixtures, so one server serves the whole test run."""

from __future__ import annotations

from pathlib import Path

_SERVERS = Path(__file__).parent / "servers"

pytest_plugins = sorted(
    f"tests.servers.{module.stem}"
    for module in _SERVERS.glob("*.py")
    if not module.stem.startswith("_") and module.stem != "process"
)
