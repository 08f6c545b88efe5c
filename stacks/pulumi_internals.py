"""The Pulumi SDK internals opcloud relies on, in one place, each pinned by tests/stacks/test_pulumi_internals.py.

Offline synth runs a stack program under mocks without the Pulumi CLI, and the SDK has no public call for that
(`run_pulumi_func`, `_sync_await`). The policy pack must tell the engine's unknown values from data, and
pulumi_policy marks them with private sentinels (`_is_unknown`, its proxy classes). When an SDK upgrade changes
any of these, the pin test fails here, by name, instead of a synth or a preview going quietly wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")


def wait(awaitable: Awaitable[T]) -> T:
    """The result of a Pulumi awaitable (an output's future), from synchronous code."""
    return _sync_await(awaitable)


def run_program(program: Callable[[], None]) -> None:
    """Run a stack program to completion against whatever monitor is set (the synth's mocks)."""
    _sync_await(run_pulumi_func(program))


def is_policy_unknown(value: Any) -> bool:
    """Whether a property value the policy engine hands a pack is one not known until `up`."""
    from pulumi_policy.proxy import _is_unknown

    return bool(_is_unknown(value))


def is_policy_proxy(value: Any) -> bool:
    """Whether a value is one of pulumi_policy's read-only proxies of the engine's properties."""
    return type(value).__module__ == "pulumi_policy.proxy"
