"""The errors every command raises; `opcloud.cli` turns them into one line and an exit code.

Exit codes (DESIGN.md): 0 ok, 1 a failed check or copy, 2 bad usage or input.
"""

from __future__ import annotations


class OpcloudError(Exception):
    """Base of all expected failures: the message is shown as one line, no traceback."""

    exit_code = 2


class InputError(OpcloudError):
    """Bad input: a malformed file, an unknown key, a missing value, a wrong URL."""

    exit_code = 2


class InputErrors(InputError):
    """Several input errors found at once (every bad key of an environment file): one `error:` line each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class ResidencyError(InputError):
    """A target or region outside the allowed jurisdiction."""


class ToolMissingError(InputError):
    """An external tool (the Pulumi CLI, pg_dump, ...) is not installed."""


class ConnectionFailed(InputError):
    """An endpoint that cannot be reached or refuses our credentials."""


class CheckFailed(OpcloudError):
    """A check, a copy or a verification that ran and found a problem."""

    exit_code = 1
