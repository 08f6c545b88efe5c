"""A source blob whose name the obstore data plane cannot address (Azure: `a//b`) is named in the report, never
dropped silently and never ending the whole listing; the rest is copied."""

from __future__ import annotations

from pathlib import Path

from opcloud.migrate.buckets import engine

from tests.migrate.conftest import NewUrl
from tests.migrate.test_cli import invoke
from tests.servers.azurite import AzuriteServer


def test_an_azure_blob_object_store_cannot_name_is_named_in_the_report(
    azurite: AzuriteServer, azure_container: str, new_url: NewUrl, tmp_path: Path
) -> None:
    container = azurite.service().get_container_client(azure_container)
    for name in ["docs/a-first", "docs/gap//key", "docs/z-last"]:
        container.upload_blob(name, name.encode())
    source = azurite.url(azure_container, "docs/")
    # S3 could hold the name: the copy fails on it, by name.
    report = engine.copy(source, new_url("s3"), engine.CopyOptions(state_dir=tmp_path / "s1", progress=False))
    assert (report.listed, report.copied) == (3, 2)
    assert [(f.key, "cannot be read through the data plane" in f.reason) for f in report.failed] == [("gap//key", True)]
    # A tree cannot: refused by name before anything is written; the CLI says so in one report, exit 1.
    target = f"file://{tmp_path / 'tree'}"
    code, out, err = invoke("copy", source, target, "--state-dir", str(tmp_path / "s2"))
    assert code == 1 and "gap//key" in out and "Traceback" not in out + err
    assert sorted(p.name for p in (tmp_path / "tree").iterdir() if p.name[0] != ".") == ["a-first", "z-last"]
