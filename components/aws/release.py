"""The release on AWS hosts: where each role's artifact and secrets live, what the instance role may read,
and the shell commands cloud-init runs to read them (Debian 12's `awscli` package, with the instance role's
credentials from IMDSv2: no key on the host, none in the user data)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from opcloud.components.interfaces import UserDataRenderer

from opcloud.errors import InputError

PACKAGES = ("awscli",)


def s3_object(role: str, url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 object URL, virtual-hosted (`https://B.s3.R.amazonaws.com/K`) or path style
    (`https://s3.R.amazonaws.com/B/K`); anything else is refused: the instance role reads S3 only."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path).lstrip("/")
    where = f"app.release.{role}.artifact"
    if parts.scheme != "https" or not host.endswith(".amazonaws.com"):
        raise InputError(f"{where}: {url!r} is not an S3 object URL (https://BUCKET.s3.REGION.amazonaws.com/KEY)")
    if host.startswith(("s3.", "s3-")):  # path style: s3.REGION.amazonaws.com/BUCKET/KEY
        bucket, _, path = path.partition("/")
    else:
        bucket, dot_s3, _ = host.partition(".s3")
        bucket = bucket if dot_s3 else ""
    if not bucket or not path:
        raise InputError(f"{where}: {url!r} names no bucket and key")
    return bucket, path


def check_store(role: str, url: str, store_bucket: str) -> tuple[str, str]:
    """The artifact must lie in the platform's own documents bucket (KMS-encrypted, in the jurisdiction)."""
    bucket, key = s3_object(role, url)
    if bucket != store_bucket:
        raise InputError(f"app.release.{role}.artifact: bucket {bucket} is not the platform's store {store_bucket}")
    return bucket, key


def secret_name(prefix: str, role: str, variable: str) -> str:
    """Secrets Manager name: the TLS pair is shared by both roles, every other secret belongs to one role."""
    if variable in ("TLS_CERT", "TLS_KEY"):
        return f"{prefix}/release/{variable.lower().replace('_', '-')}"
    return f"{prefix}/release/{role}/{variable.removeprefix('SECRET_')}"


def secret_command(region: str, arn: str) -> str:
    return (
        f"aws secretsmanager get-secret-value --region {shlex.quote(region)} --secret-id {shlex.quote(arn)} "
        "--query SecretString --output text"
    )


def fetch_command(region: str, bucket: str, key: str) -> str:
    source = shlex.quote(f"s3://{bucket}/{key}")
    return f'aws s3 cp --only-show-errors --region {shlex.quote(region)} {source} "$tmp/artifact"'


def read_policy(region: str, secret_arns: Iterable[str], bucket: str, key: str, key_arn: str) -> str:
    """Least privilege for one role's hosts: these secrets, this one object, and decryption with the platform's
    key only on behalf of Secrets Manager and S3 in this region."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadReleaseSecrets",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": sorted(secret_arns),
                },
                {
                    "Sid": "ReadReleaseArtifact",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/{key}",
                },
                {
                    "Sid": "DecryptForThoseReads",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": key_arn,
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": [f"secretsmanager.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]
                        }
                    },
                },
            ],
        }
    )


def cloud_config(
    render: UserDataRenderer, role: str, region: str, arns: Mapping[str, str], bucket: str, key: str, port: int
) -> str:
    """The `#cloud-config` of one role's launch template: each secret read by its ARN, the artifact by its S3
    location, both with the instance role."""
    return render(
        role,
        {variable: secret_command(region, arn) for variable, arn in arns.items()},
        port=port,
        fetch_command=fetch_command(region, bucket, key),
        helpers="",
        packages=PACKAGES,
    )
