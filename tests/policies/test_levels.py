"""MTender's eight levels of defence in depth beside the ISO/IEC 27001 view: which rules evidence each level, the
physical level marked as the provider's."""

from __future__ import annotations

import json

from opcloud.policies.levels import LEVELS, PHYSICAL
from typer.testing import CliRunner

from opcloud.cli import app


def test_an_mtender_stack_shows_the_eight_levels() -> None:
    result = CliRunner().invoke(app, ["stack", "check", "mtender-md-prod"])
    assert result.exit_code == 0, result.output
    assert "Defence in depth (MTender's eight levels)" in result.stdout
    for number, level in enumerate(LEVELS, start=1):
        assert f"{number}. {level}:" in result.stdout, level


def test_levels_in_json_name_their_rules_and_the_providers_level() -> None:
    result = CliRunner().invoke(app, ["stack", "check", "mtender-md-prod", "--json"])
    levels = {level["level"]: level for level in json.loads(result.stdout)["levels"]}
    assert list(levels) == list(LEVELS)
    assert levels[PHYSICAL]["status"] == "provider" and levels[PHYSICAL]["rules"] == []
    continuity = {rule["rule"] for rule in levels["risk management and continuity"]["rules"]}
    assert {"backup-geo-copy", "backup-coverage", "iaas-high-availability"} <= continuity
    assert {rule["rule"] for rule in levels["network"]["rules"]} >= {"database-not-public"}
    # every rule that ran is under exactly one level
    placed = [rule["rule"] for level in levels.values() for rule in level["rules"]]
    assert len(placed) == len(set(placed))


def test_other_stacks_show_them_on_request_only() -> None:
    plain = CliRunner().invoke(app, ["stack", "check", "prozorro-ua-staging"])
    asked = CliRunner().invoke(app, ["stack", "check", "prozorro-ua-staging", "--levels"])
    assert "eight levels" not in plain.stdout and "eight levels" in asked.stdout
