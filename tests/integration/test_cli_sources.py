"""``interphase source`` and ``interphase world`` end to end, with real sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from interphase.store import Store
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(240)




@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    assert cli(path, "db", "init").exit_code == 0
    return path


def test_source_list_shows_every_registered_source() -> None:
    result = cli(None, "source", "list")
    assert result.exit_code == 0, result.output
    for name in ("pybamm-spm", "pybamm-spme", "pybamm-dfn", "lab-cell", "post-mortem", "hte-robot",
                 "electrolyte-empirical"):
        assert name in result.output
    assert "simulation" in result.output


def test_world_list_and_show_never_reveal_the_truth() -> None:
    listing = cli(None, "world", "list")
    assert listing.exit_code == 0, listing.output
    assert "sei-life" in listing.output and "electrolyte-conductivity" in listing.output
    shown = cli(None, "world", "show", "sei-life")
    assert shown.exit_code == 0, shown.output
    assert "pybamm-spm" in shown.output
    assert "truth" not in shown.output.lower()


def test_source_run_stores_one_record_per_cycle(db: Path) -> None:
    result = cli(db, "source", "run", "pybamm-spm", "--cycles", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "succeeded after 5 cycles" in result.output
    after = counts(db)
    assert after["results"] == 1
    store = Store(str(db))
    try:
        stored = store.list_results()[0].result
    finally:
        store.close()
    retention = [o for o in stored.observations if o.observable == "Capacity retention"]
    assert [o.index for o in retention] == [1.0, 2.0, 3.0, 4.0, 5.0]
    again = cli(db, "source", "run", "pybamm-spm", "--cycles", "5", "--seed", "3")
    assert again.exit_code == 0, again.output
    assert counts(db) == after  # the same inputs are the same record


def test_source_run_of_the_robot_indexes_by_temperature(db: Path) -> None:
    result = cli(db, "source", "run", "hte-robot", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "Conductivity [S.m-1]" in result.output
    assert " K " in result.output


@pytest.mark.parametrize(("args", "expected"), [
    (("source", "run", "no-such-source"), "unknown source 'no-such-source'"),
    (("source", "run", "pybamm-spm", "--design", "bogus=1"), "--design bogus"),
    (("source", "run", "pybamm-spm", "--design", "notapair"), "expected name=value"),
    (("source", "run", "pybamm-spm", "--design", "Charge C-rate=5"), "outside the allowed range"),
    (("source", "run", "pybamm-spm", "--design", "Ambient temperature [K]=25 m"), "wrong dimension"),
    (("world", "show", "atlantis"), "unknown world 'atlantis'"),
    (("source", "run", "lab-cell", "--stop-when", "Capacity retention"), "--stop-when"),
    (("source", "run", "lab-cell", "--stop-when", "Happiness<3"), "unknown observable 'Happiness'"),
    (("source", "run", "lab-cell", "--world", "atlantis"), "unknown world 'atlantis'"),
    (("source", "run", "hte-robot", "--world", "sei-life"), "world 'sei-life' has no source 'hte-robot'"),
])
def test_bad_source_input_is_exit_2_and_writes_nothing(db: Path, args: tuple[str, ...],
                                                     expected: str) -> None:
    before = counts(db)
    result = cli(db, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert counts(db) == before


def test_protocol_pybamm_rejects_is_exit_2(db: Path, tmp_path: Path) -> None:
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text("steps: ['Charge at 1C untill 4.2 V']\nn_cycles: 2\nambient_temperature_k: 298.15\n")
    before = counts(db)
    result = cli(db, "source", "run", "pybamm-spm", "--protocol", str(protocol))
    assert result.exit_code == 2, result.output
    assert "steps.0" in result.output and "PyBaMM" in result.output
    assert counts(db) == before


def test_source_run_lab_cell_stops_early_and_charges_only_the_hours_run(db: Path) -> None:
    stopped = cli(db, "source", "run", "lab-cell", "--seed", "3", "--stop-at-cycle", "4")
    assert stopped.exit_code == 0, stopped.output
    assert "stopped after 4 cycles" in stopped.output
    assert "Capacity retention" in stopped.output and "SEI thickness [m] " not in stopped.output
    store = Store(str(db))
    try:
        result = store.list_results()[0].result
    finally:
        store.close()
    assert result.status.value == "stopped" and result.cycles_run == 4
    assert result.protocol.stop is not None and result.protocol.stop.at_cycle == 4
    assert result.cost.lab_hours == pytest.approx(24.0 + result.metadata["cycle_hours"])
    assert result.cost.lab_hours < 24.0 + 4 * 3.0  # four cycles at about 1C, not the 200 planned


def test_a_world_file_of_ones_own_runs_without_code(db: Path, tmp_path: Path) -> None:
    from importlib.resources import files

    import yaml

    data = yaml.safe_load(files("interphase").joinpath("worlds/sei-life.yaml").read_text(encoding="utf-8"))
    data["name"] = "my-lab"
    data["sources"] = {"cheap-sim": {**data["sources"]["pybamm-spm"], "fidelity": 5},
                       "lab-cell": data["sources"]["lab-cell"]}
    data["truth"]["failures"]["assembly_defect_rate"] = 0.0
    path = tmp_path / "my-lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    listing = cli(None, "source", "list", "--world", str(path))
    assert listing.exit_code == 0, listing.output
    assert "cheap-sim" in listing.output and "lab-cell" in listing.output
    assert "pybamm-dfn" not in listing.output
    for name in ("cheap-sim", "lab-cell"):
        ran = cli(db, "source", "run", name, "--world", str(path), "--cycles", "3")
        assert ran.exit_code == 0, ran.output
        assert "succeeded after 3 cycles" in ran.output
    assert counts(db)["results"] == 2


# Three measured formulations of the robot, one outside its measured hull, and the first again.
BATCH_CSV = """label,r,c [mol/kg]
hte-00,1.0,0.615
hte-01,0.871,1.543
corner,0.087,2.118
hte-00,1.0,0.615
"""


def stored_results(db: Path) -> list:
    store = Store(str(db))
    try:
        return [stored.result for stored in store.list_results()]
    finally:
        store.close()


def test_source_run_designs_runs_a_file_on_workers_and_is_idempotent(db: Path, tmp_path: Path) -> None:
    designs = tmp_path / "formulations.csv"
    designs.write_text(BATCH_CSV, encoding="utf-8")
    ran = cli(db, "source", "run", "hte-robot", "--designs", str(designs), "--seed", "2", "--workers", "2")
    assert ran.exit_code == 0, ran.output
    assert "Batch formulations.csv: 4 designs" in ran.output
    assert "row 3 (corner): record" in ran.output and "outside the convex hull" in ran.output
    results = stored_results(db)
    assert sorted((r.design.label, r.status.value) for r in results) == [
        ("corner", "failed"), ("hte-00", "succeeded"), ("hte-01", "succeeded")]
    measured = next(r for r in results if r.design.label == "hte-01")
    assert measured.design.values == {"r": 0.871, "c [mol/kg]": 1.543}
    assert len(measured.observations) == 10  # the ten temperatures of the table
    after = counts(db)
    again = cli(db, "source", "run", "hte-robot", "--designs", str(designs), "--seed", "2")
    assert again.exit_code == 0, again.output
    assert "already stored" in again.output and "succeeded" not in again.output
    assert counts(db) == after


def test_a_batch_row_and_a_single_run_of_one_design_are_one_record(db: Path, tmp_path: Path) -> None:
    single = cli(db, "source", "run", "hte-robot", "--design", "r=0.871", "--design", "c [mol/kg]=1.543")
    assert single.exit_code == 0, single.output
    designs = tmp_path / "designs.yaml"
    designs.write_text("- {r: 0.871, 'c [mol/kg]': 1.543 mol/kg}\n- {r: 1.0, 'c [mol/kg]': 615 mmol/kg}\n",
                       encoding="utf-8")
    batch = cli(db, "source", "run", "hte-robot", "--designs", str(designs))
    assert batch.exit_code == 0, batch.output
    results = stored_results(db)
    assert len(results) == 2  # the first row was the single run's record
    assert sorted(r.design.values["c [mol/kg]"] for r in results) == [pytest.approx(0.615), 1.543]


def test_a_bad_batch_row_runs_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    designs = tmp_path / "designs.csv"
    designs.write_text(BATCH_CSV + "late,0.5,7\n", encoding="utf-8")
    before = counts(db)
    result = cli(db, "source", "run", "hte-robot", "--designs", str(designs))
    assert result.exit_code == 2, result.output
    assert f"{designs} row 5, c [mol/kg]:" in result.output and "outside the allowed range" in result.output
    assert counts(db) == before

