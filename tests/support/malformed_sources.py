"""Malformed-input cases of sources, worlds and batch runs, merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml

from support.malformed import Case

ROBOT = ("source", "run", "hte-robot")
GOOD_ROWS = "label,r,c [mol/kg]\na,0.6,1.0\n"


def _world(**source_changes: Any) -> str:
    """The electrolyte world without its empirical model, the robot's settings changed."""
    world = yaml.safe_load(files("interphase").joinpath("worlds/electrolyte-conductivity.yaml")
                           .read_text(encoding="utf-8"))
    world["name"] = "my-robot"
    del world["sources"]["electrolyte-empirical"]
    world["sources"]["hte-robot"].update(source_changes)
    return yaml.safe_dump(world, sort_keys=False)


FURLONGS = _world(design=[{"name": "r", "column": "r"},
                          {"name": "c [mol/kg]", "column": "c [mol/kg]", "unit": "furlongs"}])
RUN_ON_FURLONGS = yaml.safe_dump({"name": "wedge", "world": "world.yaml", "strategy": "trial-and-error",
                                  "budget": {"lab_hours": 20}})

CASES: dict[str, Case] = {
    "source-run-cycles-past-the-protocol-bound": Case(
        ("source", "run", "pybamm-spm", "--cycles", "999999999999"),
        "--cycles: expected a whole number of cycles from 1 to 100,000, got 999999999999"),
    "source-run-cycles-zero": Case(
        ("source", "run", "pybamm-spm", "--cycles", "0"),
        "--cycles: expected a whole number of cycles from 1"),
    "source-run-seed-past-the-request-bound": Case(
        ("source", "run", "hte-robot", "--seed", str(2**63)), "--seed"),
    "source-run-designs-header-only-csv": Case(
        (*ROBOT, "--designs", "{dir}/d.csv"), "{dir}/d.csv: holds no designs",
        {"d.csv": "r,c [mol/kg]\n"}),
    "source-run-designs-empty-yaml": Case(
        (*ROBOT, "--designs", "{dir}/d.yaml"), "{dir}/d.yaml: holds no designs", {"d.yaml": ""}),
    "source-run-designs-not-a-list": Case(
        (*ROBOT, "--designs", "{dir}/d.yaml"), "expected a list of designs", {"d.yaml": "r: 0.5\n"}),
    "source-run-designs-bad-value-names-row-and-variable": Case(
        (*ROBOT, "--designs", "{dir}/d.csv"), "{dir}/d.csv row 2, c [mol/kg]: ",
        {"d.csv": GOOD_ROWS + "b,0.6,9.5\n"}),
    "source-run-designs-wrong-dimension": Case(
        (*ROBOT, "--designs", "{dir}/d.yaml"), "{dir}/d.yaml row 1, c [mol/kg]: ",
        {"d.yaml": "- {r: 0.6, 'c [mol/kg]': 1 m}\n"}),
    "source-run-designs-unknown-column": Case(
        (*ROBOT, "--designs", "{dir}/d.csv"), "{dir}/d.csv row 1, bogus: unknown variable",
        {"d.csv": "r,bogus\n0.6,1\n"}),
    "source-run-designs-empty-cell": Case(
        (*ROBOT, "--designs", "{dir}/d.csv"), "{dir}/d.csv row 1, c [mol/kg]: empty",
        {"d.csv": "r,c [mol/kg]\n0.6,\n"}),
    "source-run-designs-too-many-cells": Case(
        (*ROBOT, "--designs", "{dir}/d.csv"), "{dir}/d.csv row 1: has 3 cells",
        {"d.csv": "r,c [mol/kg]\n0.6,1.0,7\n"}),
    "source-run-designs-repeated-header": Case(
        (*ROBOT, "--designs", "{dir}/d.csv"), "column 'r' appears twice", {"d.csv": "r,r\n0.6,0.6\n"}),
    "source-run-designs-other-suffix": Case(
        (*ROBOT, "--designs", "{dir}/d.txt"), "expected a designs file ending in .csv", {"d.txt": GOOD_ROWS}),
    "source-run-designs-missing-file": Case(
        (*ROBOT, "--designs", "{dir}/nope.csv"), "nope.csv: file not found"),
    "source-run-designs-label-not-text": Case(
        (*ROBOT, "--designs", "{dir}/d.yaml"), "row 1, label: must be text",
        {"d.yaml": "- {r: 0.6, label: [1, 2]}\n"}),
    "source-run-design-and-designs": Case(
        (*ROBOT, "--design", "r=0.6", "--designs", "{dir}/d.csv"), "--designs: give either",
        {"d.csv": GOOD_ROWS}),
    "source-run-workers-without-designs": Case(
        (*ROBOT, "--workers", "2"), "--workers: only a --designs batch"),
    "source-list-world-unit-of-another-dimension": Case(
        ("source", "list", "--world", "{dir}/world.yaml"),
        "my-robot.sources.hte-robot.design.1.unit: 'furlongs' is [length]", {"world.yaml": FURLONGS}),
    "run-world-unit-of-another-dimension-writes-nothing": Case(
        ("run", "{dir}/run.yaml"), "expected a unit of dimension [substance] / [mass]",
        {"world.yaml": FURLONGS, "run.yaml": RUN_ON_FURLONGS}),
    "source-run-world-table-is-a-folder": Case(
        (*ROBOT, "--world", "{dir}/world.yaml"), "table.path: {dir} is a folder",
        {"world.yaml": _world(table={"path": ".", "separator": "\t"})}),
    "world-show-source-description-too-long": Case(
        ("world", "show", "{dir}/world.yaml"), "description",
        {"world.yaml": _world(description="x" * 5000)}),
}
