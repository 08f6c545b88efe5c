"""Config validation: every bad environment file is one line naming the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from opcloud.stacks.synth import validate

from opcloud.config.environment import from_config, list_stacks, open_stack, stack_file
from opcloud.errors import InputError, ResidencyError

Mutation = Callable[[dict[str, Any]], None]


def write_variant(tmp_path: Path, base: str, mutate: Mutation, name: str = "broken") -> Path:
    document = yaml.safe_load(stack_file(base).read_text())
    mutate(document["config"])
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        validate(open_stack(str(path)))
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


@pytest.mark.parametrize("stack", ["prozorro-sale-prod", "rialto-prod", "prokuria-eu-prod"])
def test_shipped_platform_stacks_validate(stack: str) -> None:
    source = open_stack(stack)
    environment = from_config(source.config, str(source.path))
    assert environment.tags["owner"]
    assert environment.backup.log_interval_minutes <= 10


def test_the_foundation_stacks_are_shipped() -> None:
    assert {"prozorro-sale-prod", "rialto-prod", "prokuria-eu-prod"} <= set(list_stacks())


def test_aws_stacks_copy_backups_to_a_second_eu_region() -> None:
    for stack in ("prozorro-sale-prod", "rialto-prod"):
        source = open_stack(stack)
        environment = from_config(source.config, str(source.path))
        assert (environment.cloud, environment.region, environment.jurisdiction) == ("aws", "eu-west-1", "EU")
        assert environment.backup.copy_region in {"eu-central-1", "eu-north-1"}


def test_prokuria_keeps_its_primary_in_ireland_and_its_copies_in_the_eu_pair() -> None:
    source = open_stack("prokuria-eu-prod")
    environment = from_config(source.config, str(source.path))
    assert (environment.cloud, environment.region, environment.jurisdiction) == ("azure", "northeurope", "EU")
    assert environment.primary_jurisdiction == "IE"
    assert (environment.backup.geo_redundancy, environment.backup.copy_region) == ("region", "westeurope")
    assert environment.standard_tags()["primary-jurisdiction"] == "IE"


def test_a_primary_pin_outside_the_jurisdiction_is_refused(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "prokuria-eu-prod", lambda c: c.update({"opcloud:primaryJurisdiction": "GB"}))
    assert load_error(path).endswith("opcloud:primaryJurisdiction: GB is not inside jurisdiction EU (GB lies outside)")


def test_a_pin_to_a_union_wider_than_a_country_jurisdiction_is_refused(tmp_path: Path) -> None:
    def country_jurisdiction(config: dict[str, Any]) -> None:
        config.update({"opcloud:jurisdiction": "IE", "opcloud:primaryJurisdiction": "EU"})
        config["opcloud:backup"] = {**config["opcloud:backup"], "geoRedundancy": "zones"}
        config["opcloud:backup"].pop("copyRegion")

    assert "opcloud:primaryJurisdiction: EU is not inside jurisdiction IE" in load_error(
        write_variant(tmp_path, "prokuria-eu-prod", country_jurisdiction)
    )


def test_a_primary_region_outside_the_pin_is_refused_though_inside_the_jurisdiction(tmp_path: Path) -> None:
    def primary_in_the_netherlands(config: dict[str, Any]) -> None:
        config.update({"opcloud:region": "westeurope", "azure-native:location": "westeurope"})
        config["opcloud:backup"] = {**config["opcloud:backup"], "copyRegion": "northeurope"}

    path = write_variant(tmp_path, "prokuria-eu-prod", primary_in_the_netherlands)
    assert ": opcloud:region: westeurope lies in NL, outside the primary pin IE" in load_error(path)


def test_azure_sql_only_on_azure(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path, "rialto-prod", lambda c: c["opcloud:database"].update(engine="azuresql", size="GP_Gen5_4")
    )
    assert load_error(path).endswith("opcloud:database.engine: azuresql is Azure SQL Database: only on cloud azure")


def test_azure_sql_needs_a_zone_redundant_vcore_sku(tmp_path: Path) -> None:
    def basic_sku(config: dict[str, Any]) -> None:
        config["opcloud:database"].update(engine="azuresql", size="Basic")

    message = load_error(write_variant(tmp_path, "prokuria-eu-prod", basic_sku))
    assert "opcloud:database.size: 'Basic': Azure SQL needs a General Purpose or Business Critical vCore SKU" in message


def test_an_unknown_database_engine_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "prokuria-eu-prod", lambda c: c["opcloud:database"].update(engine="mssql"))
    assert "opcloud:database.engine: Input should be 'postgresql' or 'azuresql'" in load_error(path)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:database"].update(sizee="db.t3.micro"))
    assert load_error(path).endswith("opcloud:database.sizee: unknown key (did you mean opcloud:database.size?)")


def test_unknown_top_level_opcloud_key_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c.update({"opcloud:colour": "blue"}))
    assert "opcloud:colour: unknown key" in load_error(path)


def test_a_misspelt_key_is_named_as_written_with_the_one_meant(tmp_path: Path) -> None:
    def misspell(config: dict[str, Any]) -> None:
        config["opcloud:jurisdicton"] = config.pop("opcloud:jurisdiction")

    with pytest.raises(InputError) as caught:
        validate(open_stack(str(write_variant(tmp_path, "rialto-prod", misspell))))
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("opcloud:jurisdicton: unknown key (did you mean opcloud:jurisdiction?)")
    assert lines[1].endswith("opcloud:jurisdiction: missing value")


def test_every_bad_key_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    def break_three(config: dict[str, Any]) -> None:
        config["aws:regon"] = config.pop("aws:region")
        config["opcloud:network"]["adminCidr"] = config["opcloud:network"].pop("adminCidrs")
        config["opcloud:database"]["storageGb"] = "lots"

    with pytest.raises(InputError) as caught:
        validate(open_stack(str(write_variant(tmp_path, "rialto-prod", break_three))))
    lines = str(caught.value).splitlines()
    assert len(lines) == 3 and all(line.startswith(str(tmp_path)) for line in lines)
    assert lines[0].endswith("aws:regon: unknown key (did you mean aws:region?)")
    assert lines[1].endswith("opcloud:network.adminCidr: unknown key (did you mean opcloud:network.adminCidrs?)")
    assert "opcloud:database.storageGb:" in lines[2]


def test_the_cli_prints_one_error_line_per_bad_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from opcloud.cli import app

    def break_two(config: dict[str, Any]) -> None:
        config["aws:regon"] = config.pop("aws:region")
        config["opcloud:colour"] = "blue"

    result = CliRunner().invoke(app, ["stack", "synth", str(write_variant(tmp_path, "rialto-prod", break_two))])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)


def test_bad_cidr_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:network"].update(cidr="10.0.0.0/33"))
    assert "opcloud:network.cidr:" in load_error(path)


def test_allow_list_entry_is_named_by_index(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path, "rialto-prod", lambda c: c["opcloud:network"].update(allowedCidrs=["198.51.100.0/24", "nope"])
    )
    assert "opcloud:network.allowedCidrs[1]:" in load_error(path)


def test_world_open_allow_list_is_refused(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:network"].update(allowedCidrs=["0.0.0.0/0"]))
    assert "0.0.0.0/0 is not an allow-list" in load_error(path)


def test_missing_value_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:database"].pop("size"))
    assert load_error(path).endswith("opcloud:database.size: missing value")


def test_unknown_region_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c.update({"opcloud:region": "eu-west-9"}))
    message = load_error(path)
    assert "unknown aws region 'eu-west-9'" in message and "eu-central-1" in message


def test_unknown_jurisdiction_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c.update({"opcloud:jurisdiction": "EUR"}))
    assert load_error(path).endswith("opcloud:jurisdiction: unknown jurisdiction 'EUR': use an ISO country code or EU")


def test_backup_copy_outside_the_jurisdiction_is_a_residency_error(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:backup"].update(copyRegion="us-east-1"))
    with pytest.raises(ResidencyError, match="us-east-1 lies in US, outside jurisdiction EU"):
        validate(open_stack(str(path)))


def test_primary_region_outside_the_jurisdiction_is_refused(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        "prokuria-eu-prod",
        lambda c: c.update({"opcloud:region": "uksouth", "azure-native:location": "uksouth"}),
    )
    assert ": opcloud:region: uksouth lies in GB, outside jurisdiction EU" in load_error(path)


def test_zone_redundancy_only_where_no_second_region_exists(tmp_path: Path) -> None:
    def zones_instead_of_copy(config: dict[str, Any]) -> None:
        config["opcloud:backup"].pop("copyRegion")
        config["opcloud:backup"]["geoRedundancy"] = "zones"

    path = write_variant(tmp_path, "rialto-prod", zones_instead_of_copy)
    assert "only for a jurisdiction with one region" in load_error(path)


def test_log_backup_interval_is_bounded(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:backup"].update(logIntervalMinutes=30))
    assert "opcloud:backup.logIntervalMinutes:" in load_error(path)


def test_provider_region_must_agree(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c.update({"aws:region": "eu-central-1"}))
    assert "aws:region: 'eu-central-1' disagrees with opcloud:region 'eu-west-1'" in load_error(path)


def test_owner_tag_is_required(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "rialto-prod", lambda c: c["opcloud:tags"].pop("owner"))
    assert "opcloud:tags: an 'owner' tag is required" in load_error(path)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  opcloud:cloud: aws\n   opcloud:region: [eu-west-1\n")
    message = load_error(path)
    assert "malformed YAML" in message and "line" in message


def test_file_named_wrongly_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text("config: {}\n")
    with pytest.raises(InputError, match=r"named Pulumi\.<stack>\.yaml"):
        open_stack(str(path))


def test_azure_sql_copies_go_to_the_paired_region_only(tmp_path: Path) -> None:
    def copy_to_germany(config: dict[str, Any]) -> None:
        config["opcloud:backup"] = {**config["opcloud:backup"], "copyRegion": "germanywestcentral"}

    message = load_error(write_variant(tmp_path, "prokuria-eu-prod", copy_to_germany))
    assert message.endswith(
        "opcloud:backup.copyRegion: Azure SQL copies go to the paired region westeurope, not elsewhere"
    )


def test_classified_columns_need_azure_sql(tmp_path: Path) -> None:
    column = {"table": "Bidders", "column": "TaxNumber", "label": "Confidential", "informationType": "National ID"}

    def on_postgres(config: dict[str, Any]) -> None:
        config["opcloud:database"].update(classifiedColumns=[column])

    message = load_error(write_variant(tmp_path, "rialto-prod", on_postgres))
    assert message.endswith(
        "opcloud:database.classifiedColumns: sensitivity labels are an Azure SQL feature (engine azuresql)"
    )


def test_prokuria_runs_azure_sql() -> None:
    source = open_stack("prokuria-eu-prod")
    environment = from_config(source.config, str(source.path))
    assert (environment.database.engine, environment.database.size) == ("azuresql", "GP_Gen5_4")
