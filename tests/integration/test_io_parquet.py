"""Parquet export and import: the round trip through a fresh store is lossless."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interphase.schema import ConflictError, InvalidInputError, Observation
from interphase.store import Store
from interphase.store.io import export_parquet, import_files, import_parquet
from interphase.store.io.parquet import FORMAT_VERSION, TABLE_NAMES
from support import factories

CAPACITY = "Discharge capacity [A.h]"


@pytest.fixture
def arbin_file() -> Iterator[Path]:
    with as_file(files("interphase").joinpath("data/cyclers/arbin_example.csv")) as path:
        yield Path(path)


def fresh_store(path: Path) -> Store:
    store = Store(str(path))
    store.init()
    return store


def fill(store: Store, arbin_file: Path) -> dict[str, str]:
    """A campaign with a request-linked result, a correction, a failure, std set and unset."""
    seeded = factories.seed_campaign(store, n_designs=3)
    source = seeded.sources[0]
    no_std = tuple(Observation(observable=CAPACITY, index=float(c), value=1.0 / 3.0 + c * 1e-17,
                               std=None, unit="A*h") for c in range(1, 4))
    with_std = factories.result(source, seeded.designs[0], n_observations=5)
    original = store.submit_result(with_std, idempotency_key="run-0", campaign=seeded.campaign)
    corrected = factories.result(source, seeded.designs[0], n_observations=5,
                                 message="recalibrated",
                                 observations=no_std + with_std.observations[3:])
    correction = store.correct_result(original.id, corrected, idempotency_key="run-0-fix")
    failed = store.submit_result(factories.failed_result(source, seeded.designs[1]),
                                 idempotency_key="run-1", campaign=seeded.campaign)
    request = store.create_request(
        factories.request(seeded.campaign, seeded.design_ids[2], key="req-2"))
    claimed = store.claim_next_request("worker-a")
    assert claimed is not None and claimed.id == request.id
    answered = store.submit_result(
        factories.result(source, seeded.designs[2], n_observations=2, seed=4,
                         metadata={"channel": 7, "nested": {"x": [0.1, None, "ü"]}}),
        idempotency_key="run-2", request_id=request.id)
    (imported,) = import_files(store, [arbin_file])
    return {"original": original.id, "correction": correction.id, "failed": failed.id,
            "answered": answered.id, "imported": imported.result_id}


def read_tables(directory: Path):
    return {name: pq.read_table(directory / f"{name}.parquet") for name in TABLE_NAMES}


def test_round_trip_is_lossless(store: Store, arbin_file: Path, tmp_path: Path) -> None:
    fill(store, arbin_file)
    written = export_parquet(store, tmp_path / "first")
    assert [p.name for p in written] == [f"{n}.parquet" for n in TABLE_NAMES]

    target = fresh_store(tmp_path / "copy.db")
    assert import_parquet(target, tmp_path / "first") == 5
    export_parquet(target, tmp_path / "second")

    first, second = read_tables(tmp_path / "first"), read_tables(tmp_path / "second")
    for name in TABLE_NAMES:
        assert first[name].equals(second[name], check_metadata=True), name
        assert first[name].to_pylist() == second[name].to_pylist(), name
    meta = first["results"].schema.metadata
    assert meta[b"interphase.format_version"] == FORMAT_VERSION.encode()

    results = {r["result_key"]: r for r in first["results"].to_pylist()}
    assert len(results) == 5  # the superseded one included
    assert results["run-0-fix"]["supersedes_key"] == "run-0"
    assert results["run-0"]["superseded_by_key"] == "run-0-fix"
    assert results["run-1"]["status"] == "failed" and results["run-1"]["n_observations"] == 0
    assert results["run-2"]["request_key"] == "req-2"
    stds = {(r["result_key"], r["index"]): r["std"] for r in first["observations"].to_pylist()
            if r["observable"] == CAPACITY}
    assert stds[("run-0-fix", 1.0)] is None and stds[("run-0", 1.0)] == 1e-3

    # What users list in the copy matches the original, correction link included.
    copy = {s.idempotency_key: s for s in target.list_results(include_superseded=True)}
    originals = {s.idempotency_key: s for s in store.list_results(include_superseded=True)}
    assert copy["run-0-fix"].supersedes_id == copy["run-0"].id
    assert [s.idempotency_key for s in target.list_results()] == \
        [s.idempotency_key for s in store.list_results()]
    for key, stored in originals.items():
        assert copy[key].result.observations == stored.result.observations
        assert copy[key].result.provenance == stored.result.provenance
        assert copy[key].campaign == stored.campaign
    target.close()


def test_import_is_idempotent_also_into_the_source_store(store: Store, arbin_file: Path,
                                                         tmp_path: Path) -> None:
    fill(store, arbin_file)
    export_parquet(store, tmp_path / "dump")
    before = store.counts()
    assert import_parquet(store, tmp_path / "dump") == 0
    assert store.counts() == before

    target = fresh_store(tmp_path / "copy.db")
    import_parquet(target, tmp_path / "dump")
    after_first = target.counts()
    reports = import_files(target, [tmp_path / "dump"], fmt="parquet")
    assert target.counts() == after_first
    assert len(reports) == 5 and all(r.already_present for r in reports)
    target.close()


def test_campaign_export_holds_only_that_campaign(store: Store, arbin_file: Path,
                                                  tmp_path: Path) -> None:
    fill(store, arbin_file)
    export_parquet(store, tmp_path / "demo", campaign="demo")
    tables = read_tables(tmp_path / "demo")
    assert tables["campaigns"].column("name").to_pylist() == ["demo"]
    assert set(tables["results"].column("result_key").to_pylist()) == \
        {"run-0", "run-0-fix", "run-1", "run-2"}
    assert tables["sources"].column("source_id").to_pylist() == ["sim-fast@1.0"]


def test_conflicting_or_broken_export_writes_nothing(store: Store, arbin_file: Path,
                                                     tmp_path: Path) -> None:
    fill(store, arbin_file)
    export_parquet(store, tmp_path / "dump")
    target = fresh_store(tmp_path / "other.db")
    target.create_campaign(factories.campaign_spec("demo", seed=99))  # same name, other spec
    before = target.counts()
    with pytest.raises(ConflictError, match="demo"):
        import_parquet(target, tmp_path / "dump")
    assert target.counts() == before

    # A changed value under a stored key is a conflict, found before anything is written.
    path = tmp_path / "dump" / "observations.parquet"
    table = pq.read_table(path)
    values = table.column("value").to_pylist()
    values[0] += 1.0
    pq.write_table(table.set_column(table.schema.get_field_index("value"),
                                    table.schema.field("value"), pa.array(values)), path)
    original = store.counts()
    with pytest.raises(ConflictError, match="other content"):
        import_parquet(store, tmp_path / "dump")
    assert store.counts() == original

    path.unlink()
    with pytest.raises(InvalidInputError) as caught:
        import_files(target, [tmp_path / "dump"], fmt="parquet")
    assert caught.value.field.endswith("observations.parquet")
    assert target.counts() == before
    target.close()
