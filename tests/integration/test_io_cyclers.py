"""Importing real cycler files (Arbin CSV, Maccor ASCII) into a real store."""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import warnings
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from interphase.schema import InvalidInputError
from interphase.store import Store
from interphase.store.io import export_parquet, import_files, read_cycler_file
from interphase.store.io.detect import ALLOWED_FORMATS_TEXT

SUMMARY_OBSERVABLES = {
    "capacity_discharge": "Discharge capacity [A.h]",
    "capacity_charge": "Charge capacity [A.h]",
    "energy_discharge": "Discharge energy [W.h]",
    "energy_charge": "Charge energy [W.h]",
}
# The example's counters, which Arbin resets at each cycle start.
ARBIN_COUNTERS = {"Discharge capacity [A.h]": "Discharge_Capacity",
                  "Charge capacity [A.h]": "Charge_Capacity",
                  "Discharge energy [W.h]": "Discharge_Energy",
                  "Charge energy [W.h]": "Charge_Energy"}


@pytest.fixture
def arbin_file() -> Iterator[Path]:
    with as_file(files("interphase").joinpath("data/cyclers/arbin_example.csv")) as path:
        yield Path(path)


@pytest.fixture
def maccor_file() -> Iterator[Path]:
    with as_file(files("interphase").joinpath("data/cyclers/maccor_example.001")) as path:
        yield Path(path)


def battdat_summary(path: Path):
    """battdat's own per-cycle summary of the Arbin file, computed independently."""
    from battdat.io.arbin import ArbinReader
    from battdat.postprocess.integral import CapacityPerCycle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = ArbinReader().read_dataset([str(path)])
        return CapacityPerCycle().compute_features(dataset)


def test_arbin_import_takes_the_cyclers_counters(store: Store, arbin_file: Path,
                                                tmp_path: Path) -> None:
    (report,) = import_files(store, [arbin_file])
    assert (report.format, report.n_cycles, report.already_present) == ("arbin", 2, False)

    export_parquet(store, tmp_path / "export")
    rows = pq.read_table(tmp_path / "export" / "observations.parquet").to_pylist()
    exported = {(r["observable"], r["index"]): r for r in rows}
    assert all(r["index_unit"] == "cycle" and r["std"] is None for r in rows)

    # Arbin resets the counters at each cycle start: a cycle's value is its last row's.
    last_rows = pd.read_csv(arbin_file).groupby("Cycle_Index").last().reset_index(drop=True)
    for cycle, row in last_rows.iterrows():
        for observable, column in ARBIN_COUNTERS.items():
            assert exported[(observable, float(cycle))]["value"] == pytest.approx(row[column])
    # Cycle 1 is whole and finely logged: battdat's integration agrees with the counters.
    integrated = battdat_summary(arbin_file).set_index("cycle_number").loc[1]
    for column, observable in SUMMARY_OBSERVABLES.items():
        assert exported[(observable, 1.0)]["value"] == pytest.approx(integrated[column],
                                                                     rel=0.005)

    stored = store.get_result(report.result_id).result
    by_key = {(o.observable, o.index): o.value for o in stored.observations}
    # The file starts part-way through cycle 0's charge; the counter holds the whole charge.
    assert by_key[("Charge capacity [A.h]", 0.0)] == pytest.approx(1.0719038)
    assert by_key[("Coulombic efficiency", 1.0)] == pytest.approx(
        by_key[("Discharge capacity [A.h]", 1.0)] / by_key[("Charge capacity [A.h]", 1.0)])
    assert 2.5 < by_key[("Mean discharge voltage [V]", 1.0)] < 4.2
    assert 290.0 < by_key[("Mean temperature [K]", 1.0)] < 320.0  # ~30 °C in the file
    assert 0.0 < by_key[("Internal resistance [Ohm]", 1.0)] < 0.1
    assert by_key[("Cycle duration [s]", 0.0)] == 2700.0
    assert stored.cycles_run == 2
    assert stored.design.label == "arbin_example"
    assert stored.metadata["format"] == "arbin"
    assert stored.metadata["observable_sources"]["Charge capacity [A.h]"] == (
        "cycler column 'Charge_Capacity' (reset each cycle)")
    assert stored.metadata["flags"] == [] and stored.metadata["warnings"] == []
    assert stored.metadata["file_sha256"] == hashlib.sha256(arbin_file.read_bytes()).hexdigest()
    assert store.get_artifact(stored.metadata["file_sha256"]) == arbin_file.read_bytes()


def test_maccor_rest_only_file(store: Store, maccor_file: Path) -> None:
    parsed = read_cycler_file(maccor_file)
    assert parsed.fmt == "maccor"
    assert parsed.n_cycles == 1
    assert parsed.source_spec().name == "cycler-maccor"
    (report,) = import_files(store, [maccor_file])
    stored = store.get_result(report.result_id).result
    values = {o.observable: o.value for o in stored.observations}
    # Eight rest points at zero current: nothing charged or discharged, 70 s long.
    assert values == {
        "Discharge capacity [A.h]": 0.0, "Charge capacity [A.h]": 0.0,
        "Discharge energy [W.h]": 0.0, "Charge energy [W.h]": 0.0,
        "Cycle duration [s]": pytest.approx(70.002),
    }
    assert "Coulombic efficiency" not in values and "Mean discharge voltage [V]" not in values
    assert {o.index for o in stored.observations} == {0.0}
    assert all(math.isfinite(o.value) for o in stored.observations)
    # Maccor's own Amp-hr counter says zero; nothing was integrated.
    assert stored.metadata["observable_sources"]["Discharge capacity [A.h]"].startswith(
        "cycler column 'Amp-hr'")


def test_reader_warnings_are_kept_with_the_record(store: Store, maccor_file: Path,
                                                  tmp_path: Path) -> None:
    lines = maccor_file.read_bytes().split(b"\n")
    header = lines[1].split(b"\t")
    drop = {header.index(b"Amp-hr"), header.index(b"Watt-hr")}
    bare = tmp_path / "no_counters.001"
    bare.write_bytes(b"\n".join([lines[0]] + [b"\t".join(
        cell for i, cell in enumerate(line.split(b"\t")) if i not in drop) for line in lines[1:]]))
    (report,) = import_files(store, [bare])
    stored = store.get_result(report.result_id).result
    # Integrating a rest-only cycle: battdat warns that it cannot tell charge from discharge.
    assert any("Unable to clearly detect" in w for w in report.warnings)
    assert list(report.warnings) == stored.metadata["warnings"]


def test_reimport_is_idempotent(store: Store, arbin_file: Path, maccor_file: Path) -> None:
    first = import_files(store, [arbin_file, maccor_file])
    counts = store.counts()
    second = import_files(store, [arbin_file, maccor_file])
    assert [r.result_id for r in second] == [r.result_id for r in first]
    assert [r.already_present for r in first] == [False, False]
    assert [r.already_present for r in second] == [True, True]
    assert store.counts() == counts
    assert counts["results"] == 2 and counts["artifacts"] == 2 and counts["sources"] == 2


def test_same_bytes_under_another_name_are_already_present(store: Store, arbin_file: Path,
                                                           tmp_path: Path) -> None:
    (first,) = import_files(store, [arbin_file])
    counts = store.counts()
    renamed = shutil.copyfile(arbin_file, tmp_path / "cell-42.csv")
    (again,) = import_files(store, [renamed])
    assert (again.result_id, again.already_present) == (first.result_id, True)
    assert store.counts() == counts


def test_import_into_campaign(store: Store, arbin_file: Path) -> None:
    from support.factories import seed_campaign

    seeded = seed_campaign(store, n_designs=1)
    (report,) = import_files(store, [arbin_file], campaign=seeded.campaign)
    assert store.get_result(report.result_id).campaign == seeded.campaign


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


_NOISE = random.Random(20261125)
BAD_FILES = {
    "empty.csv": b"",
    "random.csv": _NOISE.randbytes(2048) + b"\x00\xff",
    "wrong_columns.csv": b"time,volts,amps\n0,3.1,0.5\n1,3.2,0.5\n",
    "header_only.csv": (b"Data_Point,Test_Time,DateTime,Step_Time,Step_Index,Cycle_Index,Current,"
                        b"Voltage,Charge_Capacity,Discharge_Capacity,Internal_Resistance,Temperature\n"),
    "garbage.mpr": b"BIO-LOGIC but not really" + _NOISE.randbytes(512),
    "random.001": _NOISE.randbytes(1024),
    "cells.xlsx": b"PK\x03\x04 not a cycler file",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_rejected_and_nothing_written(store: Store, arbin_file: Path, tmp_path: Path,
                                                  name: str) -> None:
    bad = _write(tmp_path / name, BAD_FILES[name])
    before = store.counts()
    with pytest.raises(InvalidInputError) as caught:
        import_files(store, [arbin_file, bad])  # the good file comes first
    assert caught.value.field == str(bad)
    assert ALLOWED_FORMATS_TEXT in str(caught.value)
    assert store.counts() == before


def test_missing_file_and_unknown_format(store: Store, arbin_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InvalidInputError) as caught:
        import_files(store, [arbin_file, missing])
    assert caught.value.field == str(missing)
    with pytest.raises(InvalidInputError) as caught:
        import_files(store, [arbin_file], fmt="neware")
    assert caught.value.field == "fmt" and "maccor" in caught.value.problem
    assert store.counts()["results"] == 0


def test_header_only_csv_says_so(tmp_path: Path) -> None:
    header_only = _write(tmp_path / "header_only.csv", BAD_FILES["header_only.csv"])
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(header_only)
    assert caught.value.field == str(header_only)
    assert caught.value.problem.startswith("has a header but no data rows")


def test_trailing_field_on_data_rows_is_refused_not_shifted(arbin_file: Path,
                                                            tmp_path: Path) -> None:
    """pandas (and battdat's reader) take the first column as the index when data rows hold
    one field more than the header, shifting every column: Temperature would be read from
    the trailing field, Internal_Resistance from Temperature."""
    header, *rows = arbin_file.read_text().splitlines()
    shifted = [header] + [f"{n}," + row.split(",", 1)[1] + ",0" for n, row in enumerate(rows)]
    path = _write(tmp_path / "trailing.csv", ("\n".join(shifted) + "\n").encode())
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(path)
    assert caught.value.field == str(path)
    assert "one field more than the header" in caught.value.problem


def test_arbin_file_read_as_maccor_names_the_file(arbin_file: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(arbin_file, fmt="maccor")
    assert caught.value.field == str(arbin_file)
    assert "Maccor columns" in caught.value.problem
