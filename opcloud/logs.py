"""Where log records go: nowhere by default, the terminal with --verbose, a file with --log-file.

The SDKs (botocore, azure-core, paramiko, psycopg) log through `logging`. Without a handler Python prints their
warnings on stderr in the middle of our progress bars, so by default every record is dropped; `--verbose` shows
them through our console, `--log-file` keeps everything at debug level (SDK requests included). Every line is
masked before it is written: signatures, SAS tokens, account keys, passwords, private keys.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from opcloud.errors import InputError

MASK = "****"
# (pattern, replacement): the names stay, so a reader sees what was there; the values go.
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
     f"[private key {MASK}]"),
    (re.compile(r"(?i)(['\"]?(?:authorization|x-amz-security-token|x-ms-copy-source-authorization|"
                r"aws_secret_access_key|aws_session_token|password|passwd|secret|token)['\"]?\s*[:=]\s*b?['\"]?)"
                r"[^'\"\s,;&}]+(?:[ ][^'\"\s,;&}]+)*"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(Signature=|Signature:\s*)[0-9a-f]{16,}"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)([?&](?:sig|se|skoid|sktid|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&\s'\"]+"),
     rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(AccountKey=|SharedAccessSignature=)[^;\s'\"]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@"), rf"\g<1>{MASK}@"),  # user:password@host
)


def mask(text: str) -> str:
    """`text` with every secret-looking value replaced by ****."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def configure(verbose: int = 0, log_file: Path | None = None) -> None:
    """Route log records: dropped (default), the terminal (-v: info, -vv: debug), a file (debug, always)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.NullHandler())  # keeps Python's last-resort stderr handler out of our output
    level = logging.WARNING
    if verbose:
        from rich.logging import RichHandler

        from opcloud.console import err_console

        terminal = RichHandler(console=err_console, show_path=False, rich_tracebacks=False, markup=False)
        terminal.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        terminal.setFormatter(MaskingFormatter("%(name)s: %(message)s"))
        root.addHandler(terminal)
        level = terminal.level
    if log_file is not None:
        try:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as error:
            raise InputError(f"--log-file {log_file}: {error.strerror}") from None
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        root.addHandler(file_handler)
        level = logging.DEBUG
    root.setLevel(level)
