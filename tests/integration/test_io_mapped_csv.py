"""A CSV with its own headers, read through a column map, against the same data as Arbin."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from interphase.cli.main import app
from interphase.schema import InvalidInputError
from interphase.store import Store
from interphase.store.io import import_files, read_cycler_file
from interphase.store.io.column_map import build_column_map

pytestmark = pytest.mark.timeout(120)

COARSE = Path(__file__).resolve().parents[1] / "data" / "cyclers" / "coarse_arbin.csv"
COUNTER_COLUMNS = ["Charge_Capacity(Ah)", "Discharge_Capacity(Ah)", "Charge_Energy(Wh)",
                   "Discharge_Energy(Wh)"]
# Every key, with units other than battdat's where a unit exists.
MAP = {
    "voltage": "Volts",
    "cycle": "Cycle",
    "time": "Time [h]",
    "current": "I_mA[mA]",
    "temperature": "T_K[K]",
    "internal_resistance": "R_mOhm[mohm]",
    "step": "Step",
    "discharge_capacity": "Q_dis_mAh[mA.h]",
    "charge_capacity": "Q_chg_Ah",
    "discharge_energy": "E_dis_kWh[kW.h]",
    "charge_energy": "E_chg_Wh[W.h]",
}


def renamed(arbin: pd.DataFrame, counters: bool = True) -> pd.DataFrame:
    """The Arbin table under other names, other units, charge-negative, columns reordered.

    Time is battdat's Arbin time (``DateTime`` from its first row), here in hours.
    """
    out = pd.DataFrame({
        "Volts": arbin["Voltage"], "Step": arbin["Step_Index"], "Cycle": arbin["Cycle_Index"],
        "Time [h]": (arbin["DateTime"] - arbin["DateTime"].iloc[0]) / 3600.0,
        "I_mA": -1000.0 * arbin["Current"], "T_K": arbin["Temperature"] + 273.15,
        "R_mOhm": arbin["Internal_Resistance"] * 1000.0,
    })
    if counters:
        out["Q_dis_mAh"] = arbin["Discharge_Capacity(Ah)"] * 1000.0
        out["E_chg_Wh"] = arbin["Charge_Energy(Wh)"]
        out["Q_chg_Ah"] = arbin["Charge_Capacity(Ah)"]
        out["E_dis_kWh"] = arbin["Discharge_Energy(Wh)"] / 1000.0
    return out


def observations(parsed) -> dict[tuple[str, float], float]:
    return {(o.observable, o.index): o.value for o in parsed.observations}


def assert_same_cycles(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


@pytest.mark.parametrize("counters", [True, False], ids=["counters", "integrated"])
def test_mapped_csv_matches_the_same_file_as_arbin(tmp_path: Path, counters: bool) -> None:
    arbin = pd.read_csv(COARSE)
    if not counters:
        arbin = arbin.drop(columns=COUNTER_COLUMNS)
    arbin_path = tmp_path / "cell.csv"
    arbin.to_csv(arbin_path, index=False)
    mapped_path = tmp_path / "cell_export.csv"
    renamed(arbin, counters).to_csv(mapped_path, index=False, sep=";")
    entries = [f"{key}={column}" for key, column in MAP.items()
               if counters or "capacity" not in key and "energy" not in key]

    want = read_cycler_file(arbin_path)
    got = read_cycler_file(mapped_path, "csv", column_map=build_column_map(
        entries, current_sign="charge-negative"))

    assert got.fmt == "csv" and got.reader == "pandas"
    assert got.n_cycles == want.n_cycles == 14
    assert_same_cycles(observations(got), observations(want))
    assert got.observable_sources == {
        k: v.replace("'Discharge_Capacity(Ah)'", "'Q_dis_mAh'")
             .replace("'Charge_Capacity(Ah)'", "'Q_chg_Ah'")
             .replace("'Discharge_Energy(Wh)'", "'E_dis_kWh'")
             .replace("'Charge_Energy(Wh)'", "'E_chg_Wh'")
        for k, v in want.observable_sources.items()}
    assert [(f.cycle, f.observable) for f in got.flags] == [
        (f.cycle, f.observable) for f in want.flags]
    assert got.column_map is not None and got.column_map["time"] == ["Time [h]", "h"]
    assert got.first_file_cycle == 1


def test_map_file_and_cli_store_the_record(tmp_path: Path) -> None:
    mapped_path = tmp_path / "cell_export.csv"
    renamed(pd.read_csv(COARSE)).to_csv(mapped_path, index=False, sep="\t")
    map_file = tmp_path / "map.yaml"
    columns = {**MAP, "charge_capacity": {"column": "Q_chg_Ah", "unit": "A.h"}}
    map_file.write_text(yaml.safe_dump({"columns": columns, "current_sign": "charge-negative"}))
    db = tmp_path / "store.db"
    Store(str(db)).init()
    argv = ["--db", str(db), "import", "--format", "csv", "--map-file", str(map_file),
            str(mapped_path), "--nominal-capacity", "2.5"]

    first = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})

    assert first.exit_code == 0, first.output
    assert "1 new, 0 already present" in first.stdout
    assert first.stderr.count("flag: cell_export.csv:") == 3
    store = Store(str(db))
    (stored,) = store.list_results()
    record = store.get_result(stored.id).result
    assert record.source == "cycler-csv"
    assert record.metadata["column_map"]["current"] == ["I_mA", "mA"]
    assert len(record.metadata["flags"]) == 3
    counts = store.counts()
    again = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert "0 new, 1 already present" in again.stdout
    # A different map is different data: another record, not "already present".
    assert store.counts() == counts
    other = CliRunner().invoke(app, [*argv, "--map", "step=Cycle"], env={"COLUMNS": "200"})
    assert other.exit_code == 0, other.output
    assert "1 new, 0 already present" in other.stdout
    assert store.counts()["results"] == counts["results"] + 1


def test_another_map_makes_another_record(store: Store, tmp_path: Path) -> None:
    mapped_path = tmp_path / "cell_export.csv"
    renamed(pd.read_csv(COARSE)).to_csv(mapped_path, index=False)
    base = [f"{key}={column}" for key, column in MAP.items()]
    first_map = build_column_map(base, current_sign="charge-negative")
    (first,) = import_files(store, [mapped_path], "csv", column_map=first_map)
    (same,) = import_files(store, [mapped_path], "csv", column_map=first_map)
    assert (same.result_id, same.already_present) == (first.result_id, True)
    no_step = build_column_map([e for e in base if not e.startswith("step=")],
                               current_sign="charge-negative")
    (second,) = import_files(store, [mapped_path], "csv", column_map=no_step)
    assert not second.already_present and second.result_id != first.result_id


@pytest.mark.parametrize(("content", "entries", "fragment"), [
    ("t,i,v,c\n", ["time=t", "current=i", "voltage=v", "cycle=c"],
     "has a header but no data rows"),
    ("t,i,v,c\n0,1,3.5,1\n", ["time=t", "current=i", "voltage=Voltage", "cycle=c"],
     "column 'Voltage' mapped to voltage is not in the header"),
    ("t,i,v,c\n0,1,3.5,1\n1,1,x,1\n", ["time=t", "current=i", "voltage=v", "cycle=c"],
     "column 'v', data row 2: 'x' is not a number"),
    ("t,i,v,c\n0,1,3.5,1\n1,1,3.6,0\n", ["time=t", "current=i", "voltage=v", "cycle=c"],
     "column 'c', data row 2: the cycle index goes back"),
    ("t,i,v,c\n5,1,3.5,1\n1,1,3.6,1\n", ["time=t", "current=i", "voltage=v", "cycle=c"],
     "column 't', data row 2: time goes back"),
    ("t,i,v,c,c\n0,1,3.5,1,1\n", ["time=t", "current=i", "voltage=v", "cycle=c"],
     "header names column 'c' 2 times"),
    ("t,i,v,c\n0,1,3.5,1.5\n", ["time=t", "current=i", "voltage=v", "cycle=c"],
     "1.5 is not a whole number"),
    ("t,i,v,c\n0,1,3.5,1\n", ["time=t[ms]", "current=i[kA]", "voltage=v[MV]", "cycle=c"],
     "3.5e+06 V is outside the plausible range"),
    ("t,i,v,c,q\n0,1,3.5,1,-1\n", ["time=t", "current=i", "voltage=v", "cycle=c",
                                    "charge_capacity=q"], "column 'q', data row 1: -1 A.h"),
])
def test_bad_mapped_csv_names_file_column_and_row(tmp_path: Path, content: str,
                                                  entries: list[str], fragment: str) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(content)
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(path, "csv", column_map=build_column_map(entries))
    assert caught.value.field == str(path)
    assert fragment in caught.value.problem


def test_auto_never_guesses_a_generic_csv(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    renamed(pd.read_csv(COARSE)).to_csv(path, index=False)
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(path)
    assert "lacks the Arbin columns" in caught.value.problem
    assert "csv (any CSV, with --format csv and a column map)" in caught.value.problem
