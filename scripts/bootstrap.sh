#!/usr/bin/env bash
# Set up opcloud on a fresh Debian 12 machine: Python packages in .venv, and with --servers the real
# servers the tests start on loopback (PostgreSQL, OpenSSH, tgt, nfs-ganesha, Azurite, moto).
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_servers=0
[[ "${1:-}" == "--servers" ]] && want_servers=1

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_packages=(python3-venv)
if (( want_servers )); then
  apt_packages+=(postgresql-15 openssh-server openssh-client tgt libiscsi-bin nfs-ganesha nfs-ganesha-vfs
                 libnfs-utils nodejs npm iproute2 procps debootstrap)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  # nodesource's nodejs ships npm itself and conflicts with Debian's npm package.
  [[ $pkg == npm || $pkg == nodejs ]] && command -v "$pkg" >/dev/null && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
  echo "bootstrap: apt-get install ${missing[*]}"
  as_root apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=.venv/.opcloud-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "bootstrap: pip install -e .[test]"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi

if (( want_servers )); then
  if [[ ! -x .servers/node_modules/.bin/azurite-blob ]]; then
    echo "bootstrap: npm install azurite"
    mkdir -p .servers
    (cd .servers && npm install --silent --no-audit --no-fund --prefix . azurite@3 >/dev/null)
  fi
fi
