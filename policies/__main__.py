"""Entry point of `pulumi preview --policy-pack policies`: assemble the pack from the rule modules."""

import sys
from pathlib import Path

# Pulumi runs the pack with policies/ as its directory; the project root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies.pack import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies())
