"""Entry point of `pulumi preview --policy-pack policies`: assemble the pack from the rule modules."""

# opcloud is installed in the project's virtualenv (scripts/bootstrap.sh): its packages come from there.

from opcloud.policies.pack import PACK_NAME, build_policies
from pulumi_policy import PolicyPack

PolicyPack(name=PACK_NAME, policies=build_policies())
