"""A copy into a directory tree that does not exist yet creates it (as rclone does), once the source has
answered; a dry run or a bad source creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from opcloud.migrate.buckets import engine

from opcloud.errors import InputError
from tests.migrate.conftest import sftp_url
from tests.servers.sshd import SshServer


def _options(tmp_path: Path, **extra: object) -> engine.CopyOptions:
    return engine.CopyOptions(state_dir=tmp_path / "state", progress=False, **extra)  # type: ignore[arg-type]


def _source(tmp_path: Path) -> str:
    (tmp_path / "src" / "t").mkdir(parents=True)
    (tmp_path / "src" / "t" / "a.json").write_text("{}")
    return f"file://{tmp_path / 'src'}"


def test_a_missing_target_tree_is_created(tmp_path: Path, sshd: SshServer) -> None:
    source = _source(tmp_path)
    assert engine.copy(source, f"file://{tmp_path}/new/deep", _options(tmp_path)).ok
    assert (tmp_path / "new" / "deep" / "t" / "a.json").read_text() == "{}"
    remote = sshd.home / "created" / "here"
    assert engine.copy(source, sftp_url(sshd, remote), _options(tmp_path)).ok
    assert (remote / "t" / "a.json").exists()


def test_a_dry_run_or_a_bad_source_creates_nothing(tmp_path: Path) -> None:
    source = _source(tmp_path)
    report = engine.copy(source, f"file://{tmp_path}/dry", _options(tmp_path, dry_run=True))
    assert report.copied == 1 and not (tmp_path / "dry").exists()
    assert [(planned.key, planned.action) for planned in report.would] == [("t/a.json", "copy")]  # named
    with pytest.raises(InputError, match="does not exist"):
        engine.copy(f"file://{tmp_path}/nope", f"file://{tmp_path}/never", _options(tmp_path))
    assert not (tmp_path / "never").exists()
