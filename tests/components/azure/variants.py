"""Variants of the shipped prokuria-eu-prod file for the Azure synth tests.

The shipped file pins the primary to Ireland inside the EU and runs Azure SQL; these tests also need the
stricter model it had before (jurisdiction IE, PostgreSQL, copies kept across Ireland's zones), which is
still a valid environment for data that may not leave one country.
"""

from __future__ import annotations

from typing import Any

from opcloud.config.environment import read_config_file, stack_file

PROKURIA = "prokuria-eu-prod"


def ireland_only_postgres_config() -> dict[str, Any]:
    """prokuria's file with every copy kept in Ireland, on PostgreSQL Flexible Server."""
    config, _ = read_config_file(stack_file(PROKURIA))
    config = dict(config)
    config.pop("opcloud:primaryJurisdiction", None)
    backup = {k: v for k, v in config["opcloud:backup"].items() if k != "copyRegion"}
    database = {k: v for k, v in config["opcloud:database"].items() if k not in ("engine", "weeklyRetentionWeeks")}
    config.update(
        {
            "opcloud:jurisdiction": "IE",
            "opcloud:backup": {**backup, "geoRedundancy": "zones"},
            "opcloud:database": {**database, "engineVersion": "16", "size": "Standard_D4ds_v5"},
        }
    )
    return config
