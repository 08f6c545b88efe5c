"""IAM documents the AWS components share."""

from __future__ import annotations

import json


def service_trust_policy(service: str) -> str:
    """Trust policy letting one AWS service (e.g. `backup.amazonaws.com`) assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )
