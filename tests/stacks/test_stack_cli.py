"""`opcloud stack` through typer's CliRunner: every shipped stack synthesizes, JSON shapes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import list_stacks, stack_file

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_json_names_every_shipped_stack() -> None:
    code, out, _ = invoke("stack", "list", "--json")
    assert code == 0
    rows = json.loads(out)["stacks"]
    assert [row["stack"] for row in rows] == list_stacks()
    sale = next(row for row in rows if row["stack"] == "prozorro-sale-prod")
    assert sale == {
        "stack": "prozorro-sale-prod",
        "program": "platform",
        "cloud": "aws",
        "region": "eu-west-1",
        "jurisdiction": "EU",
    }


@pytest.mark.parametrize("stack", list_stacks())
def test_every_shipped_stack_synthesizes(stack: str) -> None:
    code, out, err = invoke("stack", "synth", stack, "--json")
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["stack"] == stack and manifest["project"] == "opcloud"
    assert len(manifest["resources"]) > 10
    for resource in manifest["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "inputs"}
        assert resource["urn"].startswith(f"urn:pulumi:{stack}::opcloud::")


@pytest.mark.parametrize("stack", ["prozorro-sale-prod", "rialto-prod", "prokuria-eu-prod"])
def test_platform_synth_shows_every_part_of_the_design_table(stack: str) -> None:
    code, out, err = invoke("stack", "synth", stack)
    assert code == 0, err
    for part in (
        "network and firewall",
        "keys",
        "object storage (documents)",
        "database",
        "backups",
        "app tier",
        "audit logging",
    ):
        assert f"✓ {part}" in out
    assert "not declared" not in out


def test_synth_writes_the_manifest_file(tmp_path: Path) -> None:
    out_file = tmp_path / "manifests" / "rialto.json"
    code, _, err = invoke("stack", "synth", "rialto-prod", "--out", str(out_file))
    assert code == 0, err
    manifest = json.loads(out_file.read_text())
    assert manifest["outputs"]["documentStore"] == "rialto-prod-documents-eu-west-1"
    assert not list(out_file.parent.glob(".*.tmp"))


def test_broken_environment_file_exits_2_with_one_line(tmp_path: Path) -> None:
    document = yaml.safe_load(stack_file("prozorro-sale-prod").read_text())
    document["config"]["opcloud:network"]["cidr"] = "10.40.0.0/8"
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(document))
    out_file = tmp_path / "manifest.json"
    code, out, err = invoke("stack", "synth", str(path), "--out", str(out_file))
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: ") and "opcloud:network.cidr" in err and str(path) in err
    assert not out_file.exists()


def test_unknown_stack_exits_2() -> None:
    code, _, err = invoke("stack", "synth", "atlantis-prod")
    assert code == 2 and "unknown stack 'atlantis-prod'" in err


def _resource(diff: dict, type_: str, name: str) -> dict:
    return next(r for p in diff["parts"] for r in p["resources"] if r["type"] == type_ and r["name"] == name)


def _changes(resource: dict) -> dict[str, tuple]:
    return {c["path"]: (c.get("a"), c.get("b")) for c in resource["changes"]}


def test_diff_of_two_aws_stacks_names_each_changed_property_old_and_new() -> None:
    code, out, err = invoke("stack", "diff", "prozorro-sale-prod", "rialto-prod", "--json")
    assert code == 0, err
    diff = json.loads(out)
    assert diff["same"] is False
    config = {c["path"]: (c.get("a"), c.get("b")) for c in diff["config"]}
    assert config["opcloud:network.cidr"] == ("10.40.0.0/16", "10.41.0.0/16")
    assert config["opcloud:database.size"] == ("db.r6g.xlarge", "db.r6g.large")
    vpc = _resource(diff, "aws:ec2/vpc:Vpc", "network-vpc")
    assert vpc["status"] == "changed" and _changes(vpc)["cidrBlock"] == ("10.40.0.0/16", "10.41.0.0/16")
    database = _changes(_resource(diff, "aws:rds/instance:Instance", "database-instance"))
    assert database["instanceClass"] == ("db.r6g.xlarge", "db.r6g.large")
    assert database["allocatedStorage"] == (500, 200)
    replication = _resource(diff, "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication",
                            "database-backup-replication")
    assert _changes(replication)["region"] == ("eu-central-1", "eu-north-1")
    # Each stack's own name prefix is taken out: names alone never make a difference.
    assert not any(c["path"].startswith("tags.Name") for p in diff["parts"] for r in p["resources"]
                   for c in r["changes"])


def test_diff_of_a_stack_with_itself_is_the_same() -> None:
    code, out, err = invoke("stack", "diff", "prozorro-sale-prod", "prozorro-sale-prod", "--json")
    assert code == 0, err
    diff = json.loads(out)
    assert diff["same"] is True and diff["config"] == []
    assert all(p["same"] and p["resources"] == [] for p in diff["parts"])


def test_diff_of_iaas_stacks_names_the_host_and_step() -> None:
    code, out, err = invoke("stack", "diff", "prozorro-ua-prod", "prozorro-ua-staging")
    assert code == 0, err
    assert "- pulumi-python:dynamic:Resource network-api-2-firewall (only in A)" in out
    assert 'connection.address: "10.60.1.11" -> "10.62.1.11"' in out
    assert "- pulumi-python:dynamic:Resource hosts-lb-1-packages (only in A)" in out  # prod's balancer pair
    assert "opcloud:inventory.loadBalancers." in out
    # rendered scripts are summarised, never dumped into the terminal
    assert "put_file" not in out and "apply: (text, " in out


def test_diff_across_clouds_names_what_each_side_lacks() -> None:
    code, out, err = invoke("stack", "diff", "prozorro-sale-prod", "prokuria-eu-prod", "--json")
    assert code == 0, err
    storage = next(p for p in json.loads(out)["parts"] if p["part"] == "object storage (documents)")
    only_a = {r["type"] for r in storage["resources"] if r["status"] == "onlyA"}
    only_b = {r["type"] for r in storage["resources"] if r["status"] == "onlyB"}
    assert "aws:s3/bucket:Bucket" in only_a
    assert "azure-native:storage:StorageAccount" in only_b


@pytest.mark.parametrize("operation", ["up", "preview"])
def test_deploy_without_the_pulumi_cli_says_how_to_install_it(operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = invoke("stack", operation, "prozorro-sale-prod")
    assert code == 2
    assert "the Pulumi CLI is not installed" in err and "get.pulumi.com" in err and "synth" in err
    assert len(err.strip().splitlines()) == 1


def test_destroy_says_the_cli_is_missing_before_asking_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = runner.invoke(app, ["stack", "destroy", "prozorro-sale-prod"], input="")
    assert result.exit_code == 2
    assert "the Pulumi CLI is not installed" in result.stderr
    assert "Destroy every resource" not in result.stdout + result.stderr


def test_list_has_a_header_row() -> None:
    code, out, _ = invoke("stack", "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["stack", "program", "cloud", "region", "jurisdiction"]


def test_synth_refuses_an_unwritable_out_path_before_synthesizing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from opcloud.cli import stack as stack_cli

    def no_synth(env: str) -> None:
        raise AssertionError("synthesized before checking --out")

    monkeypatch.setattr(stack_cli, "synth", no_synth)
    code, _, err = invoke("stack", "synth", "rialto-prod", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err and len(err.strip().splitlines()) == 1


def test_synth_tree_names_types_as_the_manifest_and_check_do() -> None:
    code, out, err = invoke("stack", "synth", "rialto-prod")
    assert code == 0, err
    assert "aws:s3/bucket:Bucket" in out and "aws:s3:Bucket" not in out
