"""Clouds are registered, one record each: a new cloud is one composer module plus one record (a fake cloud
here), and everything that knows clouds reads the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opcloud.policies.check import check_stack
from opcloud.stacks.synth import synth

from opcloud import clouds, residency
from opcloud.config.environment import stack_file
from opcloud.errors import InputError
from tests.stacks import tinycloud


@pytest.fixture
def tiny() -> Iterator[None]:
    clouds.register(tinycloud.CLOUD)
    yield
    del clouds.CLOUDS["tinycloud"]


def _environment(tmp_path: Path, region: str = "tiny-kyiv-1") -> Path:
    document = yaml.safe_load(stack_file("rialto-prod").read_text())
    config = document["config"]
    config.pop("aws:region")
    config.update({"opcloud:cloud": "tinycloud", "opcloud:region": region, "opcloud:jurisdiction": "UA"})
    config["opcloud:backup"]["copyRegion"] = "tiny-kyiv-2"
    path = tmp_path / "Pulumi.tiny-prod.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.usefixtures("tiny")
def test_a_new_cloud_is_one_composer_and_one_record(tmp_path: Path) -> None:
    manifest = synth(str(_environment(tmp_path)))
    volume = manifest.one("tinycloud:storage:Volume")
    assert volume.inputs["region"] == "tiny-kyiv-1"
    assert residency.country_of("tinycloud", "tiny-kyiv-2") == "UA"
    assert clouds.cloud_of_type("tinycloud:storage:Volume") == "tinycloud"


@pytest.mark.usefixtures("tiny")
def test_the_new_clouds_regions_are_held_to_the_jurisdiction(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="tiny-warsaw-1"):
        synth(str(_environment(tmp_path, region="tiny-warsaw-1")))


def test_an_unregistered_cloud_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    refused = r"opcloud:cloud: unknown cloud 'tinycloud': known clouds are aws, azure, iaas"
    with pytest.raises(InputError, match=refused):
        synth(str(_environment(tmp_path)))
    assert clouds.cloud_of_type("tinycloud:storage:Volume") is None


@pytest.mark.usefixtures("tiny")
def test_the_new_clouds_mocks_compute_its_outputs_in_synth(tmp_path: Path) -> None:
    manifest = synth(str(_environment(tmp_path)))
    assert manifest.outputs["documentStore"] == "tiny://tiny-kyiv-1/rialto-prod-documents"


@pytest.mark.usefixtures("tiny")
def test_the_new_cloud_is_judged_through_its_policy_adapter(tmp_path: Path) -> None:
    _, result = check_stack(str(_environment(tmp_path)))
    by_rule = {r.rule.name: r for r in result.results}
    assert by_rule["known-resource-types"].status == "passed"
    placed = [f.message for f in by_rule["data-residency"].findings if f.resource_type == "tinycloud:storage:Volume"]
    assert placed and all("UA" in message for message in placed), placed


def test_a_cloud_without_a_policy_adapter_is_never_compliant(tmp_path: Path) -> None:
    clouds.register(tinycloud.UNJUDGED)
    try:
        _, result = check_stack(str(_environment(tmp_path)))
    finally:
        del clouds.CLOUDS["tinycloud"]
    assert result.verdict == "VIOLATED"
    unknown = {r.rule.name: r for r in result.results}["known-resource-types"].violations
    assert [f.message for f in unknown] == [
        "cloud 'tinycloud' has no policy adapter: where its 'tinycloud' resources keep data cannot be judged"
    ]
