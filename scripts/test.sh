#!/usr/bin/env bash
# The test command (README.md, .ci/run): set everything up from scratch, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --servers
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
