"""A SAS in the Azure connection string (its signature is a secret) never reaches a report or an error line,
though the data plane's errors name the request they failed on (obstore writes REDACTED for a signed URL: this
guards that it stays so)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from opcloud.migrate.buckets import engine

from tests.migrate.conftest import NewUrl
from tests.migrate.data import dataset, fill
from tests.migrate.test_cli import invoke
from tests.servers.azurite import ACCOUNT, KEY, AzuriteServer


def test_a_read_only_sas_target_fails_by_name_without_its_signature(
    azurite: AzuriteServer, azure_container: str, new_url: NewUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sas = generate_container_sas(
        ACCOUNT, azure_container, account_key=KEY, permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    endpoint = f"http://127.0.0.1:{azurite.port}/{ACCOUNT}"
    monkeypatch.setenv("OPCLOUD_TEST_SAS", f"BlobEndpoint={endpoint};AccountName={ACCOUNT};SharedAccessSignature={sas}")
    source = new_url("file")
    fill(source, dataset(large=1000))
    target = f"az://{azure_container}/docs/?connection_env=OPCLOUD_TEST_SAS"
    report = engine.copy(source, target, engine.CopyOptions(state_dir=tmp_path / "s1", progress=False, retries=1))
    assert report.failed and report.copied == 0  # the SAS may not write
    assert all(signature not in failure.reason for failure in report.failed)
    code, out, err = invoke("copy", source, target, "--state-dir", str(tmp_path / "s2"), "--json")
    assert code == 1 and signature not in out + err and "Traceback" not in out + err
