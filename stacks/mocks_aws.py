"""AWS in offline synth: the ARNs and endpoints the provider computes, and the data sources the programs read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opcloud.stacks.mocks import MOCK_ACCOUNT, CloudMocks

# Outputs the provider computes that other resources or the stack outputs read.
_COMPUTED: dict[str, dict[str, str]] = {
    "aws:rds/instance:Instance": {"address": "{name}.synth.rds.amazonaws.com", "endpoint": "{name}:5432"},
    "aws:lb/loadBalancer:LoadBalancer": {"dnsName": "{name}.synth.elb.amazonaws.com"},
}


def _arn(typ: str, name: str) -> str:
    service = typ.partition(":")[2].split("/")[0].split(":")[0]
    return f"arn:aws:{service}:mock:{MOCK_ACCOUNT}:{name}"


def _computed(typ: str, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    outputs = {"arn": _arn(typ, name)} | {key: value.format(name=name) for key, value in _COMPUTED.get(typ, {}).items()}
    return {key: value for key, value in outputs.items() if key not in state}  # what the program gave stands


MOCKS = CloudMocks(
    computed=_computed,
    calls={
        "aws:index/getCallerIdentity:getCallerIdentity": {
            "accountId": MOCK_ACCOUNT,
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/synth",
            "userId": "synth",
        },
        "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
        "aws:ec2/getAmi:getAmi": {"id": "ami-synth-debian-12", "imageId": "ami-synth-debian-12"},
    },
    aliases=lambda typ, name: {_arn(typ, name)},
)
