#!/usr/bin/env bash
# The test command (README.md, .ci/run): set everything up from scratch, lint, type-check, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --servers
.venv/bin/ruff check .
bash scripts/typecheck.sh
exec .venv/bin/python -m pytest "$@"
