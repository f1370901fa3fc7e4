"""Every registered source passes the conformance checks, and its result can be stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from interphase.schema import InvalidInputError
from interphase.sources import get_source, source_names
from interphase.sources.conformance import check_source
from interphase.store import Store


@pytest.mark.parametrize("name", source_names())
def test_registered_source_conforms(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default_db = tmp_path / "must-not-exist.db"
    monkeypatch.setenv("INTERPHASE_DB", str(default_db))
    source = get_source(name)
    result = check_source(source, name)
    assert not default_db.exists(), f"{name}: a source touched the store"

    store = Store(str(tmp_path / "conformance.db"))
    try:
        store.init()
        store.register_source(source.spec)
        stored = store.submit_result(result, idempotency_key=f"conformance:{name}")
        assert stored.result.observations == result.observations
        assert stored.result.provenance.source_name == name
    finally:
        store.close()


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="pybamm-spm"):
        get_source("no-such-source")
