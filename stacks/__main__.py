"""Entry point of `pulumi up -s <stack>` (Pulumi.yaml: main: stacks/)."""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs this file with stacks/ as the program directory; the project root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.program import run

run()
