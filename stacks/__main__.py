"""Entry point of `pulumi up -s <stack>` (Pulumi.yaml: main: stacks/)."""

from __future__ import annotations

# opcloud is installed in the project's virtualenv (scripts/bootstrap.sh): its packages come from there.
from opcloud.stacks.program import run

run()
