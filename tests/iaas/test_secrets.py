"""Secret references resolved on the operator's machine; Pulumi secret config through the `pulumi` CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from opcloud.hosts.secrets import pulumi_config_lookup, resolve

from opcloud.config.environment import SecretRef
from opcloud.errors import InputError

FAKE_PULUMI = """#!/bin/sh
echo "$*" >> "{log}"
[ "$5" = "iaas:unset" ] && exit 255
printf 'value-of-%s\\n' "$5"
"""


@pytest.fixture
def pulumi_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `pulumi` on PATH that records its arguments (the real CLI needs a backend login)."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(FAKE_PULUMI.format(log=log))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    return log


def test_config_is_read_once_per_key(pulumi_log: Path) -> None:
    lookup = pulumi_config_lookup("prozorro-ua-prod")
    ref = SecretRef.model_validate({"config": "iaas:pgdataLuksKey"})
    assert [resolve(ref, lookup) for _ in range(3)] == ["value-of-iaas:pgdataLuksKey"] * 3
    assert pulumi_log.read_text().splitlines() == ["config get --stack prozorro-ua-prod iaas:pgdataLuksKey"]


def test_unset_config_names_the_key(pulumi_log: Path) -> None:
    with pytest.raises(InputError, match="pulumi config set --secret iaas:unset"):
        resolve(SecretRef.model_validate({"config": "iaas:unset"}), pulumi_config_lookup("s"))
