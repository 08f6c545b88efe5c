"""A real NFSv4 server (nfs-ganesha, FSAL VFS) on loopback exporting a temp directory.

NFSv4 only, bound to 127.0.0.1 on a free port, Graceless (no 90 s grace period at start), recovery state
in the temp directory rather than /var/lib/nfs. The kernel here has no NFS client: libnfs reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.process import free_port, start, stop, wait_for_port

PSEUDO = "/opcloud-test/documents"


@dataclass(frozen=True)
class NfsExport:
    server: str
    port: int
    export: str  # the NFSv4 pseudo path clients use
    directory: Path


@pytest.fixture(scope="session")
def ganesha_export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NfsExport]:
    root = tmp_path_factory.mktemp("ganesha")
    exported = root / "export"
    exported.mkdir()
    (exported / "README").write_text("opcloud test export\n")
    recovery = root / "recovery"
    recovery.mkdir()
    port = free_port()
    config = root / "ganesha.conf"
    config.write_text(
        f"""
NFS_CORE_PARAM {{ Protocols = 4; NFS_Port = {port}; Bind_addr = 127.0.0.1; Enable_NLM = false;
                  Enable_RQUOTA = false; Enable_UDP = false; }}
NFSV4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = "{recovery}"; }}
EXPORT {{
  Export_Id = 1; Path = "{exported}"; Pseudo = "{PSEUDO}"; Protocols = 4; Transports = TCP;
  Access_Type = RO; Squash = No_Root_Squash; SecType = sys;
  FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = EVENT; }}
"""
    )
    log = root / "ganesha.log"
    process = start(["ganesha.nfsd", "-F", "-L", str(log), "-f", str(config), "-p", str(root / "ganesha.pid")], log)
    try:
        wait_for_port(port, process, log)
        yield NfsExport("127.0.0.1", port, PSEUDO, exported)
    finally:
        stop(process)
