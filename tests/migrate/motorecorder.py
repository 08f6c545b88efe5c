"""What the real S3 server (moto) received while an action ran: its own request recorder, read back."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.servers.s3 import S3Server


def recorded(s3_server: S3Server, action: Callable[[], object]) -> list[dict[str, Any]]:
    """Every request (method, url, headers, body) moto received while `action` ran."""

    def call(verb: str) -> bytes:
        method = "GET" if verb == "download-recording" else "POST"
        request = urllib.request.Request(f"{s3_server.endpoint}/moto-api/recorder/{verb}", method=method)
        with urllib.request.urlopen(request) as reply:
            return bytes(reply.read())

    call("reset-recording")
    call("start-recording")
    try:
        action()
    finally:
        call("stop-recording")
    return [json.loads(line) for line in call("download-recording").decode().splitlines() if line.strip()]
