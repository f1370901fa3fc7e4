"""A coarsely logged cycling export: capacities from the cycler's own counters, odd cycles flagged.

``tests/data/cyclers/coarse_arbin.csv`` is written by the script beside it: capacity
checks and an HPPC test logged every 600 s, 1C cycles, cumulative capacity and energy
counters, a counter glitch and a cut-short cycle. Integrating its logged current is off
by a third on the HPPC cycle and by 90 % on the charge after the cut-short cycle; the
counters are exact.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from typer.testing import CliRunner

from interphase.cli.main import app
from interphase.store import Store
from interphase.store.io import import_files, read_cycler_file

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).resolve().parents[1] / "data" / "cyclers"
COARSE = DATA / "coarse_arbin.csv"
NOMINAL_AH = 2.5
COUNTERS = {"Discharge capacity [A.h]": "Discharge_Capacity(Ah)",
            "Charge capacity [A.h]": "Charge_Capacity(Ah)",
            "Discharge energy [W.h]": "Discharge_Energy(Wh)",
            "Charge energy [W.h]": "Charge_Energy(Wh)"}
# (record cycle, observable): the glitch, the cut-short discharge, the short charge after it
ODD_CYCLES = {(10, "Discharge capacity [A.h]"), (11, "Discharge capacity [A.h]"),
              (12, "Charge capacity [A.h]")}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_coarse_arbin",
                                                  DATA / "make_coarse_arbin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def per_cycle_from_columns(path: Path) -> pd.DataFrame:
    """The file's own per-cycle values: each cumulative counter's increment since the
    previous cycle's last row (the test starts at zero)."""
    table = pd.read_csv(path)
    last = table.groupby("Cycle_Index")[list(COUNTERS.values())].last()
    return last.diff().fillna(last).reset_index(drop=True)


def values_by_key(store: Store, result_id: str) -> dict[tuple[str, float], float]:
    return {(o.observable, o.index): o.value for o in store.get_result(result_id).result.observations}


def test_committed_file_is_what_its_generator_writes() -> None:
    assert COARSE.read_text() == generator().csv_text()
    assert COARSE.stat().st_size < 1_000_000
    gaps = pd.read_csv(COARSE)["Test_Time"].diff().max()
    assert gaps == 600.0


def test_capacities_match_the_files_own_counters(store: Store) -> None:
    (report,) = import_files(store, [COARSE])
    got = values_by_key(store, report.result_id)
    expected = per_cycle_from_columns(COARSE)
    assert report.n_cycles == len(expected) == 14
    worst = 0.0
    for cycle, row in expected.iterrows():
        for observable, column in COUNTERS.items():
            want = float(row[column])
            value = got[(observable, float(cycle))]
            assert value == pytest.approx(want, rel=0.005), (cycle, observable)
            worst = max(worst, abs(value - want) / want)
    assert worst < 1e-9
    metadata = store.get_result(report.result_id).result.metadata
    assert metadata["observable_sources"]["Discharge capacity [A.h]"] == (
        "cycler column 'Discharge_Capacity(Ah)' (cumulative over the test)")
    assert metadata["observable_sources"]["Coulombic efficiency"].startswith("discharge capacity")


def test_odd_cycles_are_flagged_and_kept(store: Store) -> None:
    (report,) = import_files(store, [COARSE], nominal_capacity_ah=NOMINAL_AH)
    assert {(f.cycle, f.observable) for f in report.flags} == ODD_CYCLES
    stored = store.get_result(report.result_id).result
    flags = {(f["cycle"], f["observable"]): f for f in stored.metadata["flags"]}
    assert set(flags) == ODD_CYCLES
    glitch = flags[(10, "Discharge capacity [A.h]")]
    assert glitch["file_cycle"] == 11
    assert "exceeds the nominal 2.5 A.h" in glitch["reason"]
    assert "times the median of its neighbours" in glitch["reason"]
    assert "only" in flags[(11, "Discharge capacity [A.h]")]["reason"]
    assert stored.metadata["nominal_capacity_ah"] == NOMINAL_AH
    # Flagged values are stored as read, not dropped or corrected.
    assert values_by_key(store, report.result_id)[("Discharge capacity [A.h]", 10.0)] == (
        pytest.approx(glitch["value"]))


def test_without_nominal_capacity_only_jumps_are_flagged() -> None:
    parsed = read_cycler_file(COARSE)
    assert {(f.cycle, f.observable) for f in parsed.flags} == ODD_CYCLES
    assert not any("nominal" in f.reason for f in parsed.flags)
    # The capacity checks at C/5 (cycles 0 and 7) and the HPPC cycle are a few percent
    # higher than the 1C cycles around them: legitimate, and not flagged.
    assert not {f.cycle for f in parsed.flags} & {0, 6, 7}


def test_counters_reset_each_cycle_give_the_same_cycles(tmp_path: Path) -> None:
    reset = tmp_path / "coarse_reset.csv"
    reset.write_text(generator().csv_text(reset_each_cycle=True))
    cumulative, per_cycle = read_cycler_file(COARSE), read_cycler_file(reset)
    assert per_cycle.observable_sources["Charge capacity [A.h]"] == (
        "cycler column 'Charge_Capacity(Ah)' (reset each cycle)")
    want = {(o.observable, o.index): o.value for o in cumulative.observations}
    got = {(o.observable, o.index): o.value for o in per_cycle.observations}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def test_without_counters_the_current_is_integrated(tmp_path: Path) -> None:
    table = pd.read_csv(COARSE).drop(columns=list(COUNTERS.values()))
    bare = tmp_path / "no_counters.csv"
    table.to_csv(bare, index=False)
    parsed = read_cycler_file(bare)
    assert parsed.observable_sources["Discharge capacity [A.h]"] == (
        "integrated current (battery-data-toolkit CapacityPerCycle)")
    # Integration over 600 s rows is off on the HPPC cycle: the reason counters come first.
    hppc = {o.observable: o.value for o in parsed.observations if o.index == 6.0}
    assert hppc["Discharge capacity [A.h]"] > 1.2 * float(
        per_cycle_from_columns(COARSE).loc[6, "Discharge_Capacity(Ah)"])


def test_unusable_counter_falls_back_with_a_warning(tmp_path: Path) -> None:
    table = pd.read_csv(COARSE)
    table["Charge_Energy(Wh)"] = table["Charge_Energy(Wh)"].astype(object)
    table.loc[5, "Charge_Energy(Wh)"] = "n/a"
    broken = tmp_path / "broken_counter.csv"
    table.to_csv(broken, index=False)
    parsed = read_cycler_file(broken)
    assert parsed.observable_sources["Charge energy [W.h]"].startswith("integrated")
    assert parsed.observable_sources["Charge capacity [A.h]"].startswith("cycler column")
    assert any("'Charge_Energy(Wh)' not used" in w and "data row 6" in w
               for w in parsed.warnings)


def test_cli_prints_warnings_and_flags_after_the_table(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    Store(str(db)).init()
    table = pd.read_csv(COARSE)
    table["Charge_Energy(Wh)"] = -1.0  # an unusable counter: a warning
    odd = tmp_path / "odd.csv"
    table.to_csv(odd, index=False)
    result = CliRunner().invoke(app, ["--db", str(db), "import", str(odd), "--nominal-capacity",
                                      "2.5"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 new, 0 already present" in result.stdout
    lines = result.stderr.strip().splitlines()
    warnings = [line for line in lines if line.startswith("warning: odd.csv: ")]
    flags = [line for line in lines if line.startswith("flag: odd.csv: ")]
    assert len(warnings) == 1 and "'Charge_Energy(Wh)' not used" in warnings[0]
    assert len(flags) == 3
    assert any("cycle 10 (file cycle 11) Discharge capacity [A.h]" in f and "nominal" in f
               for f in flags)
    stored = Store(str(db)).list_results()
    assert len(stored) == 1
