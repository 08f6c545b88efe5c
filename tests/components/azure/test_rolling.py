"""The scale sets' rolling upgrade policy as plain logic: a batch is one host at every capacity up to the
group's maximum, and a group Azure cannot roll one host at a time is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from opcloud.components.azure.rolling import one_host_percent, rolling_upgrade_policy
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import stack_file
from opcloud.errors import InputError


@pytest.mark.parametrize("max_size", range(1, 21))
def test_a_batch_is_one_host_at_every_capacity_up_to_the_maximum(max_size: int) -> None:
    percent = one_host_percent("api", max_size)
    assert 5 <= percent <= 100  # what Azure accepts
    assert all(0 < capacity * percent / 100 <= 1 for capacity in range(1, max_size + 1))


def test_the_unhealthy_limit_admits_the_one_host_in_the_batch() -> None:
    for min_size, max_size in [(1, 1), (2, 6), (2, 4), (3, 9), (20, 20)]:
        policy = rolling_upgrade_policy("api", min_size, max_size)
        batch = one_host_percent("api", max_size)
        unhealthy = policy.max_unhealthy_instance_percent
        assert isinstance(unhealthy, int) and unhealthy >= batch  # Azure refuses a batch above it
        assert min_size * unhealthy / 100 >= 1  # one host down in the smallest group does not abort the roll
        assert policy.max_unhealthy_upgraded_instance_percent == 0


def test_a_group_too_large_to_roll_one_host_at_a_time_is_refused_by_name() -> None:
    with pytest.raises(InputError, match=r"^app.docs.max: 21 hosts cannot roll one at a time on Azure"):
        one_host_percent("docs", 21)


def test_the_stack_refuses_it_in_one_line_with_exit_2(tmp_path: Path) -> None:
    document = yaml.safe_load(stack_file("prokuria-eu-prod").read_text())
    document["config"]["opcloud:app"]["api"]["max"] = 25
    path = tmp_path / "Pulumi.prokuria-eu-prod.yaml"
    path.write_text(yaml.safe_dump(document))
    out_file = tmp_path / "manifest.json"
    result = CliRunner().invoke(app, ["stack", "synth", str(path), "--out", str(out_file)])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.strip() == (
        "error: app.api.max: 25 hosts cannot roll one at a time on Azure (the smallest batch is 5% of the scale "
        "set, so at most 20 hosts)"
    )
    assert not out_file.exists()
