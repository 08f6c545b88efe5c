"""A source blob whose name the obstore data plane cannot address (Azure: `a//b`) is named in the report, never
dropped silently and never ending the whole listing; the rest is copied."""

from __future__ import annotations

import io
from pathlib import Path

from opcloud.migrate.buckets import engine
from opcloud.migrate.stores.registry import open_store

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


def test_a_folder_marker_is_listed_under_its_own_name_on_s3(new_url: NewUrl, tmp_path: Path) -> None:
    """object_store lists `dir/` as `dir`, silently: with no other odd name before it, nothing stopped the listing,
    so a target's `dir/` could pass for a missing `dir`. The S3 listing is boto3's: both keep their names."""
    source, target = new_url("s3"), new_url("s3")
    store = open_store(source)
    for key in ["dir/", "dir/x", "e"]:
        store.write(key, io.BytesIO(key.encode()), len(key), None, {})
    assert [info.key for info in store.list()] == ["dir/", "dir/x", "e"]
    assert [info.key for info in store.list(stop_before="dir/x")] == ["dir/"]
    assert list(store.list_prefixes()) == ["dir/"]
    report = engine.copy(source, target, engine.CopyOptions(state_dir=tmp_path / "state", progress=False))
    assert (report.ok, report.copied) == (True, 3), report.failed
    assert sorted(info.key for info in open_store(target).list()) == ["dir/", "dir/x", "e"]


def test_an_azure_folder_marker_is_named_not_folded(
    azurite: AzuriteServer, azure_container: str, new_url: NewUrl, tmp_path: Path
) -> None:
    container = azurite.service().get_container_client(azure_container)
    for name in ["docs/dir/", "docs/dir/x", "docs/e"]:
        container.upload_blob(name, name.encode())
    source = azurite.url(azure_container, "docs/")
    assert [info.key for info in open_store(source).list()] == ["dir/", "dir/x", "e"]
    report = engine.copy(source, new_url("s3"), engine.CopyOptions(state_dir=tmp_path / "state", progress=False))
    assert (report.listed, report.copied) == (3, 2)
    assert [f.key for f in report.failed] == ["dir/"]  # named by its own name, never as `dir`
