"""Shared fixtures: the real servers (session-scoped, one per test run) live in tests/servers/."""

from __future__ import annotations

pytest_plugins: list[str] = []
