"""Stores are registered, one record each: the conformance suite covers every registered backend, and a new
backend is one module plus one record (shown with an in-memory store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opcloud.migrate.buckets import engine
from opcloud.migrate.residency import country_of_store
from opcloud.migrate.stores.backends import BACKENDS, Backend, register
from opcloud.migrate.stores.url import parse

from opcloud.errors import InputError
from tests.migrate import memstore
from tests.migrate.conftest import BACKENDS as CONFORMANCE_BACKENDS


def test_the_conformance_suite_runs_on_every_registered_backend() -> None:
    assert sorted(CONFORMANCE_BACKENDS) == sorted(BACKENDS)


@pytest.fixture
def memory_backend() -> Iterator[None]:
    register(Backend(
        scheme="mem", usage="mem://SPACE/PREFIX", params=frozenset({"country"}), module=memstore.__name__,
        opener="open_memory", layout="bucket",
    ))  # fmt: skip
    yield
    del BACKENDS["mem"]
    memstore.SPACES.clear()


@pytest.mark.usefixtures("memory_backend")
def test_a_new_backend_is_one_module_and_one_record(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "tenders").mkdir(parents=True)
    for i in range(5):
        (source / "tenders" / f"t{i}.json").write_text(f'{{"id": {i}}}')
    options = engine.CopyOptions(state_dir=tmp_path / "state", progress=False)
    report = engine.copy(f"file://{source}", "mem://archive/docs/?country=UA", options)
    assert report.ok and report.copied == 5 and report.verified == 5
    assert sorted(memstore.SPACES["archive"]) == [f"docs/tenders/t{i}.json" for i in range(5)]
    assert engine.verify(f"file://{source}", "mem://archive/docs/?country=UA", tmp_path / "state", progress=False).ok
    assert country_of_store(parse("mem://archive/?country=UA")) == "UA"
    with pytest.raises(InputError, match="unknown parameter 'endpoint'"):
        parse("mem://archive/?endpoint=x")


def test_an_unregistered_scheme_names_the_registered_ones() -> None:
    with pytest.raises(InputError, match=r"use s3://, az://, sftp://, file://"):
        parse("gs://bucket/prefix")
