"""A world that loads can run: everything a campaign needs is checked before anything is written.

Each test writes a small tabulated world (a real table, a real YAML file), runs the CLI on it
and checks the exit code, the one-line message and the store's row counts.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from interphase.agent.plan import resolve
from interphase.schema import InvalidInputError
from interphase.schema.run_config import RunConfig
from interphase.sources import tabulated_table, world_source
from interphase.sources.world import load_world
from interphase.store import Store
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(180)

TABLE = """thickness [um],porosity,T [degC],R [mOhm]
10,0.2,25,101
10,0.2,25,99
10,0.2,45,81
30,0.2,25,203
30,0.2,45,161
10,0.6,25,50
10,0.6,45,40
30,0.6,25,120
30,0.6,45,96
"""
WORLD: dict[str, Any] = {
    "name": "coatings",
    "description": "Separator resistance of four coatings.",
    "design_space": {"variables": [
        {"kind": "continuous", "name": "thickness [m]", "lower": 10, "upper": 30, "unit": "um"},
        {"kind": "continuous", "name": "porosity", "lower": 0.2, "upper": 0.6},
    ]},
    "protocol": {"steps": ["Rest for 1 hour"], "n_cycles": 1, "ambient_temperature_k": 298.15},
    "sources": {"coater": {
        "kind": "tabulated", "version": "1", "fidelity": 80, "channels": 2,
        "table": {"path": "coatings.csv"},
        "design": [{"name": "thickness [m]", "column": "thickness [um]", "unit": "um"},
                   {"name": "porosity", "column": "porosity"}],
        "condition": {"column": "T [degC]", "unit": "degC", "index_unit": "K"},
        "observables": [{"observable": "Resistance [Ohm]", "column": "R [mOhm]", "unit": "milliohm",
                         "noise": {"model": "additive", "std": 2.0}}],
        "cost": {"lab_hours": 3.0}, "outside_hull": "fail"}},
    "target": {"bounds": [{"observable": "Resistance [Ohm]", "at_index": 298.15, "upper": 0.08}]},
    "resources": {"lab_channels": 4, "cpu_workers": 2},
}


def world_data(**changes: Any) -> dict[str, Any]:
    """The world with dotted-path ``changes`` (``sources.coater.design.1.unit``); None deletes."""
    data = copy.deepcopy(WORLD)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is None:
            del node[key]
        else:
            node[key] = value
    return data


def write_world(folder: Path, data: dict[str, Any] | None = None, table: str = TABLE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coatings.csv").write_text(table, encoding="utf-8")
    path = folder / "world.yaml"
    path.write_text(yaml.safe_dump(data or WORLD, sort_keys=False), encoding="utf-8")
    return path


def write_config(folder: Path, world: str, **extra: Any) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump({"name": "coat-run", "world": world, "strategy": "trial-and-error",
                                    "budget": {"lab_hours": 30}, **extra}), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    assert cli(path, "db", "init").exit_code == 0
    return path


def refused(result: Any, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for part in expected:
        assert part in result.output, result.output


def test_a_column_unit_of_another_dimension_is_refused_before_the_campaign_is_written(
        tmp_path: Path, db: Path) -> None:
    world = write_world(tmp_path / "worlds", world_data(**{"sources.coater.design.1.unit": "furlongs"}))
    config = write_config(tmp_path, "worlds/world.yaml")
    before = counts(db)
    result = cli(db, "run", str(config))
    refused(result, "coatings.sources.coater.design.1.unit", "'furlongs' is [length]",
            "expected a unit of dimension dimensionless")
    assert counts(db) == before  # no campaign, decision or request: nothing to wedge
    fresh = tmp_path / "never-created.db"
    refused(cli(fresh, "run", str(config)), "design.1.unit")
    assert not fresh.exists()
    refused(cli(None, "source", "list", "--world", str(world)), "coatings.sources.coater.design.1.unit")


def test_the_molality_in_furlongs_names_the_expected_dimension(tmp_path: Path) -> None:
    data = world_data(**{"design_space.variables.1": {"kind": "continuous", "name": "c", "lower": 0.2,
                                                     "upper": 0.6, "unit": "mol/kg"},
                         "sources.coater.design.1": {"name": "c", "column": "porosity", "unit": "furlongs"}})
    with pytest.raises(InvalidInputError) as raised:
        world_source(load_world(write_world(tmp_path, data)), "coater")
    assert raised.value.field == "coatings.sources.coater.design.1.unit"
    assert "[substance] / [mass]" in raised.value.problem and "'mol/kg'" in raised.value.problem


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"sources.coater.design.1.name": "void fraction"}, "coatings.sources.coater.design.1.name",
     "not a variable of the world's design space"),
    ({"sources.coater.design": [{"name": "thickness [m]", "column": "thickness [um]", "unit": "um"}]},
     "coatings.sources.coater.design", "no column for the world's variable(s) 'porosity'"),
    ({"design_space.variables.1.upper": 0.9}, "coatings.design_space.variables.1",
     "narrow the variable to the measured range"),
    ({"sources.coater.outside_hull": "raise"}, "coatings.sources.coater.outside_hull", "needs 'fail'"),
    ({"sources.coater.table.path": "."}, "coatings.sources.coater.table.path", "is a folder"),
    ({"description": "x" * 4001}, "description", "4000"),
    ({"sources.coater.description": "x" * 4001}, "sources.coater.description", "4000"),
])
def test_a_world_that_could_not_run_exits_2_and_writes_nothing(tmp_path: Path, db: Path,
                                                              changes: dict[str, Any], field: str,
                                                              message: str) -> None:
    write_world(tmp_path / "worlds", world_data(**changes))
    before = counts(db)
    refused(cli(db, "run", str(write_config(tmp_path, "worlds/world.yaml"))), field, message)
    assert counts(db) == before


def test_a_world_description_has_a_length_limit(tmp_path: Path) -> None:
    world = write_world(tmp_path, world_data(description="x" * 4001))
    refused(cli(None, "world", "show", str(world)), "world.yaml.description", "at most 4000 characters")
    assert cli(None, "world", "show", str(write_world(tmp_path, world_data(description="x" * 4000)))
               ).exit_code == 0


def test_a_header_only_table_is_a_clear_error(tmp_path: Path) -> None:
    world = write_world(tmp_path, table=TABLE.splitlines()[0] + "\n")
    refused(cli(None, "world", "show", str(world)), "coatings.sources.coater.table coatings.csv",
            "has a header but no rows")


def test_a_table_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabulated_table, "MAX_TABLE_FILE_BYTES", len(TABLE) - 1)
    refused(cli(None, "source", "list", "--world", str(write_world(tmp_path))), "table.path",
            "tables of at most 0 MiB are read")


def test_a_world_file_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interphase.schema import loading

    world = write_world(tmp_path)
    monkeypatch.setattr(loading, "MAX_STRUCTURED_FILE_BYTES", world.stat().st_size - 1)
    refused(cli(None, "world", "show", str(world)), "world.yaml: is 0.0 MiB; files of at most 0 MiB are read")


def test_relative_table_paths_start_at_the_world_files_folder(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write_world(tmp_path / "project" / "worlds")
    monkeypatch.chdir(tmp_path)
    listing = cli(None, "source", "list", "--world", "project/worlds/world.yaml")
    assert listing.exit_code == 0, listing.output
    assert "coater" in listing.output
    # Named from a run configuration in another folder, relative to that configuration.
    config = write_config(tmp_path / "project", "worlds/world.yaml")
    plan = resolve(RunConfig.model_validate(yaml.safe_load(config.read_text())), config.parent)
    assert plan.sources["coater"].table.n_rows == 9


def test_an_inline_worlds_table_starts_at_the_configurations_folder(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_world(tmp_path / "project")
    inline = {key: WORLD[key] for key in ("design_space", "protocol", "sources", "target")}
    config = RunConfig.model_validate({"name": "inline-run", "strategy": "trial-and-error", **inline})
    monkeypatch.chdir(tmp_path)
    plan = resolve(config, tmp_path / "project")
    assert plan.sources["coater"].table.n_rows == 9


def test_world_show_says_where_each_source_runs(tmp_path: Path) -> None:
    own = cli(None, "world", "show", str(write_world(tmp_path / "a")))
    assert own.exit_code == 0, own.output
    assert "its own channels" in own.output and "2 (the source's channels)" in own.output
    assert "lab_channels=4 (unused: every channel source sets its own channels)" in own.output
    cpu = cli(None, "world", "show", str(write_world(tmp_path / "b",
                                                     world_data(**{"sources.coater.channels": None}))))
    assert cpu.exit_code == 0, cpu.output
    assert "CPU pool, shared" in cpu.output and "2 (resources.cpu_workers)" in cpu.output
    assert "cpu_workers=2 (shared by coater)" in cpu.output
    lab = cli(None, "world", "show", "sei-life")
    assert lab.exit_code == 0, lab.output
    assert "4 (resources.lab_channels)" in lab.output and "lab_channels=4 (taken by lab-cell)" in lab.output


def test_a_batch_on_a_relative_world_stores_what_runs_and_reports_what_the_source_refuses(
        tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three corners measured: (30 um, 0.6) is inside the box but outside the measured hull, and
    # with outside_hull 'raise' the source refuses it only when it runs.
    triangle = "\n".join(line for line in TABLE.splitlines() if not line.startswith("30,0.6")) + "\n"
    write_world(tmp_path / "worlds", world_data(**{"sources.coater.outside_hull": "raise"}), table=triangle)
    designs = tmp_path / "designs.csv"
    designs.write_text("label,thickness [m],porosity\nthin,10 um,0.2\ncorner,30 um,0.6\nthick,30 um,0.2\n",
                       encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the workers find the world and its table from here too
    ran = cli(db, "source", "run", "coater", "--world", "worlds/world.yaml", "--designs", "designs.csv")
    assert ran.exit_code == 1, ran.output
    assert "row 2 (corner): refused: thickness [m]: 3e-05 m is outside the convex hull" in ran.output
    store = Store(str(db))
    try:
        stored = sorted((r.result.design.label, r.result.status.value) for r in store.list_results())
    finally:
        store.close()
    assert stored == [("thick", "succeeded"), ("thin", "succeeded")]

