"""SFTP through a bastion (real sshd TCP forwarding) and where store URLs lie (the residency registry)."""

from __future__ import annotations

import io

import pytest
from opcloud.migrate.residency import check_within, country_of_store
from opcloud.migrate.stores.registry import open_store
from opcloud.migrate.stores.url import parse

from opcloud.errors import InputError, ResidencyError
from tests.migrate.conftest import sftp_url
from tests.servers.sshd import SshServer


def test_sftp_through_a_bastion_verifies_both_host_keys(sshd: SshServer) -> None:
    directory = sshd.home / "via-bastion"
    directory.mkdir()
    url = sftp_url(sshd, directory) + f"&bastion={sshd.user}@{sshd.host}:{sshd.port}"
    store = open_store(url)
    try:
        store.check()
        store.write("k/doc.txt", io.BytesIO(b"through the jump host"), 21, "text/plain", {"a": "b"})
    finally:
        store.close()
    assert (directory / "k" / "doc.txt").read_bytes() == b"through the jump host"


@pytest.mark.parametrize(
    ("url", "country"),
    [
        ("s3://b/?region=eu-central-1", "DE"),
        ("s3://b/?endpoint=https://s3.eu-west-1.amazonaws.com", "IE"),
        ("s3://b/?endpoint=https://s3.kyiv.denovo.ua", "UA"),
        ("az://c/?account=prozorro&region=westeurope", "NL"),
        ("sftp://u@docs-1.chisinau.mcloud.md/srv", "MD"),
        ("sftp://u@127.0.0.1:22/srv?country=ua", "UA"),
        ("file:///srv/docs", None),
        ("s3://b/?endpoint=http://127.0.0.1:9000", None),
    ],
)
def test_store_urls_resolve_to_countries(url: str, country: str | None) -> None:
    assert country_of_store(parse(url)) == country


def test_jurisdiction_check() -> None:
    check_within("UA", ["s3://b/?endpoint=https://s3.kyiv.denovo.ua"])
    check_within("EU", ["s3://b/?region=eu-west-1", "az://c/?account=a&region=germanywestcentral"])
    with pytest.raises(ResidencyError, match="outside"):
        check_within("EU", ["s3://b/?region=eu-west-2"])  # London
    with pytest.raises(ResidencyError, match="cannot tell"):
        check_within("UA", ["file:///srv/docs"])
    with pytest.raises(InputError, match="unknown aws region"):
        check_within("UA", ["s3://b/?region=mars-1"])
