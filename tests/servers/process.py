"""Start a real server on loopback for the tests and stop it by PID afterwards.

Every server fixture (tests/servers/*.py) uses these helpers, so that a server that fails to start
says why (its log) instead of leaving a test hanging.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS_DIR = REPO_ROOT / ".servers"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    process: subprocess.Popen[bytes] | None,
    log: Path | None,
    timeout: float = 30.0,
    host: str = "127.0.0.1",
) -> None:
    """Wait until something accepts on host:port; fail with the server's log if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {host}:{port} within {timeout}s: {_tail(log)}")


def keygen(path: Path, comment: str = "") -> str:
    """A new ed25519 key pair without passphrase at `path` (and `path`.pub); returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return Path(f"{path}.pub").read_text().strip()


def start(
    argv: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None, user: str | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group, output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    return subprocess.Popen(
        list(argv),
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
        user=user,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def _tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return "(no log)"
    return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
