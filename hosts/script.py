"""Host steps as check-then-apply bash scripts: one `Step` type, the shared shell library, the result protocol.

A step's `check` body exits 0 when the host is as wanted and calls `drift "why"` when it is not; its `apply`
body converges (under `set -euo pipefail`). `render` wraps both into one script that runs check, and in
apply mode runs apply then check again, ending with one `@@opcloud <status> <detail>` line. Scripts hold no
secrets: `secret_prelude` builds the variable assignments sent ahead of the script on the SSH channel's
stdin at run time, so a secret never reaches the VM's disk, a process's argv or its environment.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from opcloud.config.environment import SecretRef

Mode = Literal["check", "apply"]
Status = Literal["ok", "drift", "changed", "failed"]
MARKER = "@@opcloud"
# The DESIGN.md row a step belongs to; the Pulumi components group steps by it.
Row = Literal["hosts", "network", "keys", "documents", "database", "backups", "app", "audit"]

LIBRARY = r"""
drift() { echo "@@drift $*"; exit 100; }
systemd_up() { [ -d /run/systemd/system ]; }
sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
# file_is PATH SHA256 MODE OWNER: the file exists with exactly this content, mode and owner.
file_is() {
  [ -f "$1" ] || drift "$1 missing"
  [ "$(sha_of "$1")" = "$2" ] || drift "$1 differs from the wanted content"
  [ "$(stat -c %a "$1")" = "$3" ] || drift "$1 has mode $(stat -c %a "$1"), wanted $3"
  [ "$(stat -c %U:%G "$1")" = "$4" ] || drift "$1 is owned by $(stat -c %U:%G "$1"), wanted $4"
}
# put_file PATH MODE OWNER: base64 content on stdin, replaced atomically (temp file in the same directory).
put_file() {
  mkdir -p "$(dirname "$1")"
  local tmp; tmp=$(mktemp "$1.opcloud.XXXXXX")
  base64 -d > "$tmp"; chmod "$2" "$tmp"; chown "$3" "$tmp"; mv -f "$tmp" "$1"
}
# set_line FILE REGEX LINE: drop the lines matching REGEX, append LINE (one entry per key, idempotent).
set_line() {
  touch "$1"
  if grep -qxF -- "$3" "$1" && [ "$(grep -cE -- "$2" "$1")" = 1 ]; then return 0; fi
  local tmp; tmp=$(mktemp "$1.opcloud.XXXXXX")
  { grep -vE -- "$2" "$1" || true; printf '%s\n' "$3"; } > "$tmp"
  chmod --reference="$1" "$tmp"; mv -f "$tmp" "$1"
}
has_line() { [ -f "$1" ] && grep -qxF -- "$2" "$1"; }
unit_enabled() { systemctl --root=/ is-enabled --quiet "$1" 2>/dev/null; }
unit_enable() { if systemd_up; then systemctl enable --quiet "$1"; else systemctl --root=/ enable --quiet "$1"; fi; }
unit_restart() { if systemd_up; then systemctl daemon-reload; systemctl restart "$1"; fi; }
unit_active_or_offline() { if systemd_up; then systemctl is-active --quiet "$1" || drift "$1 is not running"; fi; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
"""

DRIVER = r"""
opcloud_run() {
  local mode=$1 rc
  ( set -u -o pipefail; check ); rc=$?
  if [ $rc -eq 0 ]; then echo "@@opcloud ok"; return 0; fi
  if [ $rc -ne 100 ]; then echo "@@opcloud failed check exited $rc"; return 1; fi
  if [ "$mode" = check ]; then echo "@@opcloud drift"; return 0; fi
  ( set -euo pipefail; apply ); rc=$?
  if [ $rc -ne 0 ]; then echo "@@opcloud failed apply exited $rc"; return 1; fi
  ( set -u -o pipefail; check ); rc=$?
  if [ $rc -eq 0 ]; then echo "@@opcloud changed"; return 0; fi
  echo "@@opcloud failed still drifting after apply"; return 1
}
"""


@dataclass(frozen=True)
class Step:
    """One idempotent unit of host configuration, generated from a typed spec."""

    host: str
    name: str  # unique on its host, e.g. "luks-pgdata"
    kind: str  # "iscsi-attach", "luks", "filesystem", "nfs-mount", "firewall", ...
    row: Row
    check: str  # bash body: exit 0 when in place, `drift "why"` otherwise
    apply: str  # bash body, run under `set -euo pipefail`
    inputs: Mapping[str, Any] = field(default_factory=dict)  # the typed spec, shown by synth (no secrets)
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)  # shell variable -> where its value comes from

    @property
    def id(self) -> str:
        return f"{self.host}/{self.name}"

    def script(self, mode: Mode) -> str:
        return render(self, mode)


def render(step: Step, mode: Mode) -> str:
    """The whole script of `step` in `mode`: library, check and apply functions, driver, one status line."""
    return "\n".join(
        [
            "#!/bin/bash",
            f"# opcloud step {step.id} ({step.kind}), mode {mode}",
            "set +e",
            "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            LIBRARY.strip(),
            "check() {\n" + _indent(step.check) + "\n}",
            "apply() {\n" + _indent(step.apply) + "\n}",
            DRIVER.strip(),
            f"opcloud_run {mode}",
            "",
        ]
    )


def secret_prelude(values: Mapping[str, str]) -> str:
    """Shell assignments of the secrets (not exported: child processes do not inherit them)."""
    lines = []
    for name, value in sorted(values.items()):
        if not name.isidentifier() or not name.isupper():
            raise ValueError(f"secret variable {name!r} must be an upper-case shell name")
        lines.append(f"{name}={shlex.quote(value)}")
    return "\n".join(lines) + ("\n" if lines else "")


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    output: str  # the script's output, secrets masked

    @property
    def drift_reasons(self) -> list[str]:
        return [line.split("@@drift ", 1)[1] for line in self.output.splitlines() if "@@drift " in line]


def parse_outcome(exit_code: int, output: str) -> Outcome:
    """The status from the last marker line; anything else (a dead shell, sudo refused) is a failure."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER + " "):
            status, _, detail = line[len(MARKER) + 1 :].partition(" ")
            if status == "failed":
                detail = _with_cause(detail, output)
            if status in ("ok", "drift", "changed", "failed"):
                return Outcome(status, detail, output)  # type: ignore[arg-type]
    tail = " | ".join(output.strip().splitlines()[-3:]) or "no output"
    return Outcome("failed", f"exit {exit_code}: {tail}", output)


def _with_cause(detail: str, output: str) -> str:
    """A failed step's status with the last line the script said before it (the cause, in its own words)."""
    said = [line for line in output.splitlines() if line.strip() and not line.startswith(("@@opcloud", "@@drift"))]
    return f"{detail}: {said[-1].strip()}" if said else detail


# ------------------------------------------------------------------------------------------- file helpers


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: str
    mode: str = "644"
    owner: str = "root:root"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()

    def check(self) -> str:
        return f"file_is {shlex.quote(self.path)} {self.sha256} {self.mode} {self.owner}"

    def put(self) -> str:
        encoded = base64.b64encode(self.content.encode()).decode()
        return f"put_file {shlex.quote(self.path)} {self.mode} {self.owner} <<'OPCLOUD_EOF'\n{encoded}\nOPCLOUD_EOF"

    def put_if_changed(self, then: str = "") -> str:
        """Write only when content, mode or owner differ; `then` runs after a write (a reload)."""
        body = self.put() + ("\n" + then if then else "")
        return f"if ! ( {self.check()} ) >/dev/null; then\n{_indent(body)}\nfi"


def files_check(files: Iterable[ManagedFile]) -> str:
    return "\n".join(f.check() for f in files)


def q(value: object) -> str:
    return shlex.quote(str(value))


def _indent(text: str) -> str:
    # No indentation: heredoc bodies (base64, terminators) must stay at column 0.
    return text.strip("\n") or ":"
