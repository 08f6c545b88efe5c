"""`app.release` is validated like the rest of the environment: each refusal is one line naming the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from opcloud.cli import app
from opcloud.config.environment import from_config, read_config_file, stack_file
from opcloud.errors import InputError

BASE, _ = read_config_file(stack_file("prozorro-ua-prod"))


def with_release(change: dict[str, Any], role: str = "api") -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    config["opcloud:app"]["release"][role].update(change)
    return config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"artifact": "https://10.99.0.5/r.tgz"}, "10.99.0.5 lies outside network.cidr 10.60.0.0/16"),
        ({"artifact": "https://releases.example.com/r.tgz"}, "cannot place releases.example.com in a country"),
        ({"artifact": "https://s3.eu-west-1.amazonaws.com/b/r.tgz"}, "lies in IE, outside jurisdiction UA"),
        ({"artifact": "http://mirror.de-novo.biz/r.tgz"}, "plain http only to an address inside network.cidr"),
        ({"artifact": "ftp://10.60.250.30/r.tgz"}, "use https://, http:// or file:///"),
        ({"artifact": "file://host/srv/r.tgz"}, "a file artifact is file:///absolute/path"),
        ({"sha256": "ABC"}, "app.release.api.sha256: String should match pattern"),
        ({"command": "../bin/sh"}, "without . or .."),
        ({"settings": {"GREETING": 'say "hi"'}}, "quotes, backslashes, $ and control characters are refused"),
        ({"settings": {"lower": "x"}}, "names are upper-case shell names"),
        ({"secrets": {"TLS_KEY": {"env": "X"}}}, "reserved for release.tls"),
        ({"secrets": {"DB": {"env": "X", "file": "/k"}}}, "exactly one of env, file or config"),
        ({"healthPath": "health"}, "app.release.api.healthPath: String should match pattern"),
    ],
)
def test_refused_with_the_key_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as error:
        from_config(with_release(change), "Pulumi.x.yaml")
    assert message in str(error.value)
    assert "\n" not in str(error.value) and str(error.value).startswith("Pulumi.x.yaml: ")


def test_in_jurisdiction_stores_are_accepted() -> None:
    for artifact in ("https://10.60.250.30/r.tgz", "http://10.60.250.30/r.tgz", "file:///srv/releases/r.tgz",
                     "https://mirror.de-novo.biz/r.tgz"):  # fmt: skip
        environment = from_config(with_release({"artifact": artifact}), "x")
        assert environment.app.release is not None and environment.app.release.api.artifact == artifact


def test_cli_bad_release_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad-release.yaml"
    path.write_text(yaml.safe_dump({"config": with_release({"artifact": "https://10.99.0.5/r.tgz"})}))
    result = CliRunner().invoke(app, ["hosts", "check", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "app.release.api.artifact" in result.output
