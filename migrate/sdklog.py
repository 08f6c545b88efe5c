"""SDK log records (a retried connection, a full pool) go through our console, never straight to stderr.

Without a handler, Python prints an SDK's WARNING records on stderr (logging's last resort): one line per dropped
connection, in the middle of a report or a `--no-progress` run. The engine retries and reports failures itself,
so these records are dropped unless OPCLOUD_SDK_LOG=1 asks for them, and then they are printed by our console.
"""

from __future__ import annotations

import logging
import os

from opcloud.console import err_console

SDK_LOGGERS = ("azure", "botocore", "boto3", "s3transfer", "urllib3", "paramiko")


class _ToConsole(logging.Handler):
    def __init__(self, show: bool) -> None:
        super().__init__(logging.WARNING)
        self.show = show

    def emit(self, record: logging.LogRecord) -> None:
        if self.show:
            err_console.print(f"{record.name}: {record.getMessage()}", markup=False, highlight=False)


def route_sdk_logs() -> None:
    """Give every SDK logger our handler (and stop them reaching the root logger's last resort)."""
    handler = _ToConsole(show=os.environ.get("OPCLOUD_SDK_LOG") == "1")
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
