"""A real iSCSI target (tgt) on loopback: one target, LUN 1 backed by a sparse file image, CHAP required
(and an outgoing account for initiators that ask the target to prove itself: mutual CHAP).

tgtd ignores SIGTERM while targets exist, so teardown deletes the target and the system first. Each run
uses its own control port, so a second tgtd on the machine is left alone.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.servers.process import free_port, start, stop, wait_for_port

IQN = "iqn.2024-01.test.opcloud:pgdata"
CHAP_USER = "opcloud-test"
CHAP_PASSWORD = "chap-Secret-42"  # tests check it never shows in output
# Mutual CHAP: the target answers a challenge with this account (an initiator that does not ask is not affected).
TARGET_CHAP_USER = "opcloud-target"
TARGET_CHAP_PASSWORD = "target-Secret-77"


@dataclass(frozen=True)
class IscsiTarget:
    portal: str  # 127.0.0.1:port
    iqn: str
    lun: int
    chap_user: str
    chap_password: str
    target_chap_user: str = TARGET_CHAP_USER
    target_chap_password: str = TARGET_CHAP_PASSWORD


@pytest.fixture(scope="session")
def tgt_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IscsiTarget]:
    root = tmp_path_factory.mktemp("tgt")
    image = root / "lun1.img"
    with image.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    port, control = free_port(), free_port() % 10000 + 20000
    log = root / "tgtd.log"
    process = start(["tgtd", "-f", "-C", str(control), "--iscsi", f"portal=127.0.0.1:{port}"], log)

    def adm(*args: str) -> None:
        subprocess.run(["tgtadm", "-C", str(control), "--lld", "iscsi", *args], check=True, capture_output=True)

    try:
        wait_for_port(port, process, log)
        adm("--op", "new", "--mode", "target", "--tid", "1", "-T", IQN)
        adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", str(image))
        adm("--op", "new", "--mode", "account", "--user", CHAP_USER, "--password", CHAP_PASSWORD)
        adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", CHAP_USER)
        adm("--op", "new", "--mode", "account", "--user", TARGET_CHAP_USER, "--password", TARGET_CHAP_PASSWORD)
        adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", TARGET_CHAP_USER, "--outgoing")
        adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")
        yield IscsiTarget(f"127.0.0.1:{port}", IQN, 1, CHAP_USER, CHAP_PASSWORD)
    finally:
        for args in (
            ("--op", "delete", "--force", "--mode", "target", "--tid", "1"),
            ("--op", "delete", "--mode", "system"),
        ):
            subprocess.run(["tgtadm", "-C", str(control), "--lld", "iscsi", *args], check=False, capture_output=True)
        stop(process)
