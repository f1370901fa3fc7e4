"""Every malformed input ends in one red line naming the field, exit code 2 and no write.

The cases are data: each names the files it writes, the command line and a substring
the one-line message must contain. ``{dir}`` in a command line is the case's folder,
``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from interphase.cli.main import app
from interphase.schema import CampaignSpec, load_model_file
from interphase.schema.limits import MAX_DESCRIPTION_CHARS, MAX_NESTING_DEPTH
from interphase.store import Store

pytestmark = pytest.mark.timeout(120)

ARBIN = Path(str(files("interphase").joinpath("data/cyclers/arbin_example.csv")))
CAMPAIGN = "sei-screen"
BASE_CAMPAIGN: dict[str, Any] = {
    "name": CAMPAIGN,
    "design_space": {"variables": [
        {"name": "ambient_temperature", "kind": "continuous", "lower": 10, "upper": 45,
         "unit": "degC"},
        {"name": "additive", "kind": "categorical", "choices": ["none", "VC", "FEC"]},
        {"name": "n_formation_cycles", "kind": "integer", "lower": 1, "upper": 5},
    ]},
    "protocol": {"steps": ["Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V"],
                 "n_cycles": 100, "ambient_temperature_k": 298.15},
    "target": {"objectives": [{"observable": "Capacity retention", "direction": "maximize"}]},
}
GOOD_DESIGN = {"ambient_temperature": "25 degC", "additive": "VC", "n_formation_cycles": 2,
               "label": "cell-01"}


@dataclass(frozen=True)
class Case:
    """One malformed input: files to write, the command line, and what the message names."""

    argv: tuple[str, ...]
    expected: str
    files: dict[str, str | bytes] = field(default_factory=dict)


def campaign_yaml(changes: dict[str, Any] | None = None, drop: str | None = None) -> str:
    """The base campaign with dotted-path ``changes`` applied (``a.0.b``) and one key dropped."""
    spec = copy.deepcopy(BASE_CAMPAIGN)
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    if drop is not None:
        spec.pop(drop)
    return yaml.safe_dump(spec, sort_keys=False)


def designs_yaml(*designs: Any) -> str:
    return yaml.safe_dump(list(designs), sort_keys=False)


def design(**changes: Any) -> dict[str, Any]:
    return {**GOOD_DESIGN, **changes}


def create(content: str, file: str = "campaign.yaml", expected: str = "") -> Case:
    return Case(("campaign", "create", f"{{dir}}/{file}"), expected, {file: content})


def add(content: str, expected: str, file: str = "designs.yaml") -> Case:
    return Case(("design", "add", CAMPAIGN, f"{{dir}}/{file}"), expected, {file: content})


def import_(files_: dict[str, str | bytes], *paths: str, expected: str,
            options: tuple[str, ...] = ()) -> Case:
    argv = ("import", *options, *(p if p.startswith("{") else f"{{dir}}/{p}" for p in paths))
    return Case(argv, expected, files_)


CASES: dict[str, Case] = {
    # ---- campaign configs
    "config-unknown-field": create(campaign_yaml({"colour": "blue"}),
                                   expected="colour: unknown field"),
    "config-nested-unknown-field": create(
        campaign_yaml({"design_space.variables.0.maximum": 3}),
        expected="variables.0.maximum: unknown field"),
    "config-lower-above-upper": create(
        campaign_yaml({"design_space.variables.0.lower": 50}),
        expected="variables.0.upper: variable 'ambient_temperature'"),
    "config-unknown-unit": create(
        campaign_yaml({"design_space.variables.0.unit": "degFoo"}),
        expected="unknown unit 'degFoo'"),
    "config-bad-variable-kind": create(
        campaign_yaml({"design_space.variables.1.kind": "fuzzy"}),
        expected="design_space.variables.1"),
    "config-duplicate-variable": create(
        campaign_yaml({"design_space.variables.2.name": "additive"}),
        expected="duplicate variable name 'additive'"),
    "config-bad-protocol-step": create(
        campaign_yaml({"protocol.steps": ["Charge gently until full"]}),
        expected="protocol.steps.0"),
    "config-zero-cycles": create(campaign_yaml({"protocol.n_cycles": 0}),
                                 expected="protocol.n_cycles"),
    "config-unknown-observable": create(
        campaign_yaml({"target.objectives.0.observable": "Happiness [1]"}),
        expected="unknown observable 'Happiness [1]'"),
    "config-fixed-out-of-bounds": create(
        campaign_yaml({"target.fixed": {"ambient_temperature": "90 degC"}}),
        expected="target.fixed.ambient_temperature"),
    "config-missing-protocol": create(campaign_yaml(drop="protocol"), expected="protocol: missing"),
    "config-bad-name": create(campaign_yaml({"name": "sei screen!"}),
                              expected="campaign.yaml.name"),
    "config-invalid-yaml": create("name: [unclosed\n  design_space: {", expected="not valid YAML"),
    "config-invalid-json": create('{"name": "x",', file="campaign.json", expected="not valid JSON"),
    "config-empty-file": create("", expected="file is empty"),
    "config-missing-file": Case(("campaign", "create", "{dir}/nowhere.yaml"), "file not found"),
    "config-json-list": create(json.dumps([BASE_CAMPAIGN]), file="campaign.json",
                               expected="campaign.json"),
    # ---- designs
    "design-unknown-variable": add(designs_yaml(design(colour="red")), "designs.0.colour"),
    "design-missing-variable": add(
        designs_yaml(GOOD_DESIGN, {k: v for k, v in GOOD_DESIGN.items() if k != "additive"}),
        "designs.1.additive: missing"),
    "design-out-of-bounds": add(designs_yaml(design(ambient_temperature=400)),
                                "designs.0.ambient_temperature: 400 is outside the allowed range"),
    "design-wrong-type": add(designs_yaml(design(ambient_temperature=[1, 2])),
                             "designs.0.ambient_temperature"),
    "design-wrong-dimension": add(designs_yaml(design(ambient_temperature="25 m")),
                                  "designs.0.ambient_temperature: '25 m' has the wrong dimension"),
    "design-unknown-category": add(designs_yaml(design(additive="LiNO3")),
                                   "designs.0.additive: 'LiNO3' is not allowed"),
    "design-non-integer": add(designs_yaml(design(n_formation_cycles=2.5)),
                              "designs.0.n_formation_cycles"),
    "design-not-a-mapping": add(designs_yaml(["ambient_temperature", 300]),
                                "designs.0: expected a mapping"),
    "design-file-not-a-list": add(yaml.safe_dump(GOOD_DESIGN), "expected a list of designs"),
    "design-good-then-bad": add(
        designs_yaml(GOOD_DESIGN, design(additive="LiNO3", label="cell-02")), "designs.1.additive"),
    "design-unknown-campaign": Case(("design", "add", "no-such-campaign", "{dir}/designs.yaml"),
                                    "no campaign named 'no-such-campaign'",
                                    {"designs.yaml": designs_yaml(GOOD_DESIGN)}),
    # ---- cycler files
    "import-empty-file": import_({"empty.csv": ""}, "empty.csv", expected="empty.csv: "),
    "import-binary-named-csv": import_({"random.csv": bytes(range(256)) * 8}, "random.csv",
                                       expected="random.csv: "),
    "import-wrong-columns": import_({"wrong.csv": "a,b,c\n1,2,3\n4,5,6\n"}, "wrong.csv",
                                    expected="wrong.csv: "),
    "import-unknown-extension": import_({"cells.xyz": "1,2,3\n"}, "cells.xyz",
                                        expected="cells.xyz: "),
    "import-bad-format-option": import_({}, "{arbin}", options=("--format", "excel"),
                                        expected="'excel' is not one of"),
    "import-nonexistent-path": import_({}, "missing.csv", expected="missing.csv: file not found"),
    "import-good-then-bad": import_({"wrong.csv": "a,b\n1,2\n"}, "{arbin}", "wrong.csv",
                                    expected="wrong.csv: "),
    "import-arbin-read-as-maccor": import_({}, "{arbin}", options=("--format", "maccor"),
                                           expected="arbin_example.csv: "),
    "import-file-as-parquet-export": import_({}, "{arbin}", options=("--format", "parquet"),
                                             expected="arbin_example.csv"),
    "import-parquet-with-campaign": import_(
        {}, "{arbin}", options=("--format", "parquet", "--campaign", CAMPAIGN),
        expected="campaign: "),
    "import-unknown-campaign": import_({}, "{arbin}", options=("--campaign", "nope"),
                                       expected="no campaign named 'nope'"),
    # ---- other commands
    "db-unreachable": Case(("--db", "{dir}/no/such/folder/cells.db", "db", "init"),
                           "--db: folder {dir}/no/such/folder does not exist"),
    "db-unsupported-backend": Case(("--db", "mysql://user@host/cells", "db", "info"),
                                   "database: unsupported back end 'mysql'"),
    "export-bad-format": Case(("export", "--format", "xlsx"), "'xlsx' is not one of"),
    "ls-unknown-noun": Case(("ls", "cells"), "'cells' is not one of"),
    "ls-unknown-campaign": Case(("ls", "designs", "--campaign", "nope"),
                                "no campaign named 'nope'"),
}


# ---- cycler files and column-mapped CSV

ARBIN_HEADER = ("Data_Point,Test_Time,DateTime,Step_Time,Step_Index,Cycle_Index,Current,Voltage,"
                "Charge_Capacity,Discharge_Capacity,Internal_Resistance,Temperature\n")
ARBIN_ROW = "{n},{t},{t},0,1,1,{i},3.5,0,0,0.02,25\n"
GOOD_CSV = "t;i;v;c\n0;1;3.5;1\n60;1;3.6;1\n120;-1;3.5;2\n"
GOOD_MAP = ("--map", "time=t", "--map", "current=i", "--map", "voltage=v", "--map", "cycle=c")


def arbin_rows(*currents: str) -> str:
    return ARBIN_HEADER + "".join(ARBIN_ROW.format(n=n, t=10 * n, i=i)
                                  for n, i in enumerate(currents, start=1))


def mapped(files_: dict[str, str | bytes], expected: str, *options: str,
           path: str = "cells.csv") -> Case:
    return import_(files_, path, expected=expected, options=("--format", "csv", *options))


CASES.update({
    "import-arbin-header-only": import_({"header.csv": ARBIN_HEADER}, "header.csv",
                                        expected="header.csv: has a header but no data rows"),
    "import-arbin-text-in-current": import_(
        {"cell.csv": arbin_rows("1.0", "abc", "1.0")}, "cell.csv",
        expected="cell.csv: column 'Current', data row 2: 'abc' is not a number"),
    "import-arbin-infinite-voltage": import_(
        {"cell.csv": arbin_rows("1.0", "1.0").replace(",3.5,", ",inf,", 1)}, "cell.csv",
        expected="column 'Voltage', data row 1: is not finite"),
    "import-arbin-duplicate-header": import_(
        {"cell.csv": arbin_rows("1.0").replace("Voltage,", "Voltage,Voltage,", 1)
         .replace(",3.5,", ",3.5,3.5,")}, "cell.csv",
        expected="header names column 'Voltage' 2 times"),
    "import-arbin-time-backwards": import_(
        {"cell.csv": ARBIN_HEADER + ARBIN_ROW.format(n=1, t=50, i=1)
         + ARBIN_ROW.format(n=2, t=10, i=1)}, "cell.csv",
        expected="column 'DateTime', data row 2: time goes back from 50 to 10"),
    "import-maccor-bad-state": import_(
        {"run.001": "header\nRec#\tCyc#\tStep\tTest (Min)\tAmps\tVolts\tState\n"
                    "1\t0\t1\t0\t0\t3.3\tR\n2\t0\t1\t1\t0\t3.3\tX\n"}, "run.001",
        expected="column 'State', data row 2: 'X' is not a Maccor state"),
    "import-maccor-header-only": import_(
        {"run.001": "header\nRec#\tCyc#\tStep\tTest (Min)\tAmps\tVolts\tState\n"}, "run.001",
        expected="run.001: has a header but no data rows"),
    "import-csv-without-map": mapped({"cells.csv": GOOD_CSV}, "--map: --format csv needs a "
                                                              "column map"),
    "import-map-without-csv": import_({}, "{arbin}", options=GOOD_MAP,
                                      expected="--map: a column map is read with --format csv "
                                               "only, not auto"),
    "import-map-missing-keys": mapped({"cells.csv": GOOD_CSV},
                                      "--map: no column mapped to voltage, cycle; required keys: "
                                      "time, current, voltage, cycle; allowed keys: time,",
                                      "--map", "time=t", "--map", "current=i"),
    "import-map-unknown-key": mapped({"cells.csv": GOOD_CSV}, "unknown key 'volts'; required "
                                                              "keys", *GOOD_MAP, "--map",
                                     "volts=v"),
    "import-map-no-equals": mapped({"cells.csv": GOOD_CSV}, "--map: expected KEY=COLUMN or "
                                                            "KEY=COLUMN[UNIT], got 'time'",
                                   "--map", "time"),
    "import-map-empty-column": mapped({"cells.csv": GOOD_CSV}, "--map time: no column name",
                                      *GOOD_MAP, "--map", "time=[s]"),
    "import-map-unknown-unit": mapped({"cells.csv": GOOD_CSV}, "--map time: unknown unit "
                                                               "'fortnights_x'",
                                      *GOOD_MAP, "--map", "time=t[fortnights_x]"),
    "import-map-wrong-dimension": mapped({"cells.csv": GOOD_CSV}, "--map current: unit 'V' is "
                                                                  "not a unit of current",
                                         *GOOD_MAP, "--map", "current=i[V]"),
    "import-map-unit-on-cycle": mapped({"cells.csv": GOOD_CSV}, "--map cycle: cycle is a plain "
                                                                "integer column",
                                       *GOOD_MAP, "--map", "cycle=c[s]"),
    "import-map-column-absent": mapped({"cells.csv": GOOD_CSV}, "cells.csv: column 'volts' "
                                                                "mapped to voltage is not in "
                                                                "the header",
                                       *GOOD_MAP, "--map", "voltage=volts"),
    "import-map-file-missing-key": mapped(
        {"cells.csv": GOOD_CSV, "map.yaml": "columns:\n  time: t\n  current: i\n  cycle: c\n"},
        "map.yaml.columns: no column mapped to voltage", "--map-file", "{dir}/map.yaml"),
    "import-map-file-unknown-field": mapped(
        {"cells.csv": GOOD_CSV, "map.yaml": "columns: {time: t}\ndelimiter: ';'\n"},
        "map.yaml.delimiter: unknown field", "--map-file", "{dir}/map.yaml"),
    "import-map-file-bad-sign": mapped(
        {"cells.csv": GOOD_CSV,
         "map.yaml": "columns: {time: t, current: i, voltage: v, cycle: c}\n"
                     "current_sign: up\n"},
        "map.yaml.current_sign", "--map-file", "{dir}/map.yaml"),
    "import-map-file-not-yaml": mapped(
        {"cells.csv": GOOD_CSV, "map.yaml": "columns: [unclosed\n"}, "map.yaml: ",
        "--map-file", "{dir}/map.yaml"),
    "import-map-file-absent": mapped({"cells.csv": GOOD_CSV}, "nowhere.yaml: file not found",
                                     "--map-file", "{dir}/nowhere.yaml"),
    "import-current-sign-without-map": import_(
        {}, "{arbin}", options=("--current-sign", "charge-negative"),
        expected="--current-sign: applies to --format csv with a column map"),
    "import-current-sign-unknown": mapped({"cells.csv": GOOD_CSV}, "'up' is not one of",
                                          *GOOD_MAP, "--current-sign", "up"),
    "import-csv-header-only": mapped({"cells.csv": "t;i;v;c\n\n \n"},
                                     "cells.csv: has a header but no data rows", *GOOD_MAP),
    "import-csv-binary": mapped({"cells.csv": b"\x00\x01\x02" * 50}, "is not a text CSV file",
                                *GOOD_MAP),
    "import-csv-text-cell": mapped({"cells.csv": GOOD_CSV.replace("3.6", "3,6")},
                                   "column 'v', data row 2: '3,6' is not a number", *GOOD_MAP),
    "import-csv-cycle-backwards": mapped({"cells.csv": GOOD_CSV.replace(";2\n", ";0\n")},
                                         "column 'c', data row 3: the cycle index goes back",
                                         *GOOD_MAP),
    "import-csv-huge-current": mapped({"cells.csv": GOOD_CSV.replace(";-1;", ";-1e300;")},
                                      "column 'i', data row 3: -1e+300 A is outside the "
                                      "plausible range", *GOOD_MAP),
    "import-nominal-negative": import_({}, "{arbin}", options=("--nominal-capacity", "-2"),
                                       expected="--nominal-capacity: -2.0 is not allowed"),
    "import-nominal-nan": import_({}, "{arbin}", options=("--nominal-capacity", "nan"),
                                  expected="--nominal-capacity: nan is not allowed"),
    "import-map-with-parquet": import_({}, "{arbin}", options=("--format", "parquet", *GOOD_MAP),
                                       expected="--map: applies to cycler files"),
})


# ---- sources, worlds and batch runs

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

CASES.update({
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
})


# ---- model predict

CASES.update({
    # --at is read before the store is opened, so these need no fitted model.
    "model-predict-at-not-a-quantity": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "warm"),
        "--at: cannot read 'warm' as a number with a unit"),
    "model-predict-at-not-a-temperature": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "1 m"),
        "--at: '1 m' has the wrong dimension; expected a value in K"),
    "model-predict-at-not-finite": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "nan"),
        "--at: 'nan' is not a finite temperature"),
    "model-predict-at-empty": Case(
        ("model", "predict", "--source", "hte-robot", "--at", ""),
        "--at: cannot read '' as a number with a unit"),
    "model-predict-no-model": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "25degC"),
        "--model: the store holds no model yet; run 'interphase model fit'"),
})


# ---- campaigns: run and resume

RUN_STARTS = "'interphase run CONFIG' starts a campaign"

CASES.update({
    # A resume of a campaign the store lacks lists those it has and says what starts one.
    "resume-unknown-campaign": Case(("resume", "nope", "--quiet"),
                                    f"no campaign named 'nope'; known: sei-screen; {RUN_STARTS}"),
    "resume-take-over-unknown-campaign": Case(("resume", "nope", "--take-over", "--quiet"),
                                              f"no campaign named 'nope'; known: sei-screen; {RUN_STARTS}"),
    "resume-extend-unknown-campaign": Case(("resume", "nope", "--add-lab-hours", "5", "--quiet"),
                                           f"no campaign named 'nope'; known: sei-screen; {RUN_STARTS}"),
    "resume-campaign-not-started-by-run": Case(
        ("resume", "sei-screen", "--quiet"), "only campaigns started with 'interphase run' can be resumed"),
})


# ---- bench

BENCH_WORLD = "electrolyte-conductivity"  # tabulated sources: checking a configuration takes no solve


def bench(*options: str, expected: str) -> Case:
    return Case(("bench", BENCH_WORLD, "--out", "{dir}/out", "--seeds", "1", *options), expected)


def agent(text: str, *options: str, expected: str) -> Case:
    """``--agent TEXT`` (its braces escaped for the case's formatting)."""
    return bench(*options, "--agent", text.replace("{", "{{").replace("}", "}}"), expected=expected)


CASES.update({
    "bench-agent-not-json": agent("{interphase: 1}", expected="--agent: not JSON"),
    "bench-agent-not-an-object": agent("[1, 2]", expected="--agent: expected a JSON object"),
    "bench-agent-settings-not-an-object": agent('{"mf-gp": 3}',
                                                expected="--agent: the settings of 'mf-gp' must be a JSON"),
    "bench-agent-mixes-names-and-settings": agent('{"interphase": {}, "n_init": 2}',
                                                  expected="--agent: mixes strategy names"),
    "bench-agent-strategy-not-run": agent('{"mf-gp": {"n_init": 2}}', "--strategies", "trial-and-error",
                                          expected="--agent: settings for 'mf-gp', which is not among"),
    "bench-agent-unknown-setting": agent('{"interphase": {"no_such_setting": 1}}',
                                         expected="--agent: interphase: agent.no_such_setting: unknown"),
    "bench-agent-bad-value": agent('{"mf-gp": {"n_init": 0}}',
                                   expected="--agent: mf-gp: agent.n_init: expected a positive int"),
    "bench-agent-flat-settings-without-interphase": agent(
        '{"max_simulations": 8}', "--strategies", "gp-qlogei",
        expected="--agent: settings for 'interphase', which is not among"),
    "bench-wall-hours-zero": bench("--wall-hours", "0", expected="--wall-hours"),
    "bench-wall-hours-negative": bench("--wall-hours", "-2", expected="--wall-hours"),
    "bench-wall-hours-infinite": bench("--wall-hours", "inf", expected="--wall-hours"),
    "bench-first-seed-negative": bench("--first-seed", "-1", expected="--first-seed"),
    "bench-first-seed-past-the-largest": bench("--first-seed", "4294967295", "--seeds", "2",
                                               expected="--first-seed: seeds 4294967295 to 4294967296"),
    "bench-budget-unbounded": bench("--budget-lab-hours", "1e300", expected="--budget-lab-hours"),
    "bench-unknown-strategy": bench("--strategies", "trial-and-error,annealing",
                                    expected="--strategies: unknown annealing"),
})


# ---- user files, --db, limits

_CAMPAIGN = """\
name: {name}
description: {description}
design_space:
  variables:
    - {{name: ambient_temperature, kind: continuous, lower: 10, upper: 45, unit: degC}}
protocol:
  steps: ["Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V"]
  n_cycles: 100
  ambient_temperature_k: 298.15
"""
_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _campaign(name: str = "general", description: str = "ok") -> str:
    return _CAMPAIGN.format(name=name, description=description)


def _create(content: str | bytes, expected: str, file: str = "campaign.yaml") -> Case:
    return Case(("campaign", "create", f"{{dir}}/{file}"), expected, {file: content})


CASES.update({
    "yaml-deeply-nested": _create("a: " + "[" * 20_000 + "]" * 20_000,
                                  f"campaign.yaml: nests mappings and lists deeper than {MAX_NESTING_DEPTH}"),
    "json-deeply-nested": _create('{"a": ' + "[" * 20_000 + "]" * 20_000 + "}",
                                  f"campaign.json: nests mappings and lists deeper than {MAX_NESTING_DEPTH}",
                                  file="campaign.json"),
    "yaml-self-alias": _create("&a [*a]", "campaign.yaml: nests mappings and lists deeper"),
    "yaml-duplicate-key": _create(_campaign() + "name: other\n",
                                  "campaign.yaml: duplicate key 'name' at line 10 (first at line 1)"),
    "yaml-duplicate-nested-key": _create(_campaign().replace("  n_cycles: 100\n",
                                                             "  n_cycles: 100\n  n_cycles: 5\n"),
                                         "duplicate key 'n_cycles' at line 9"),
    "json-duplicate-key": _create('{"name": "a", "name": "b"}', "campaign.json: duplicate key 'name'",
                                  file="campaign.json"),
    "config-is-a-folder": Case(("campaign", "create", "{dir}"), "is a folder; give a YAML or JSON file"),
    "run-config-is-a-folder": Case(("run", "{dir}", "--quiet"), "is a folder; give a YAML or JSON file"),
    "description-too-long": _create(_campaign(description="x" * (MAX_DESCRIPTION_CHARS + 1)),
                                    f"campaign.yaml.description: String should have at most "
                                    f"{MAX_DESCRIPTION_CHARS} characters"),
    "db-is-a-png": Case(("--db", "{dir}/picture.png", "ls", "records"),
                        "picture.png is not a SQLite database; it holds a PNG image",
                        {"picture.png": _PNG}),
    "db-is-a-png-db-info": Case(("--db", "{dir}/picture.png", "db", "info"),
                                "picture.png is not a SQLite database; it holds a PNG image",
                                {"picture.png": _PNG}),
    "db-is-a-folder": Case(("--db", "{dir}", "db", "info"), "is a folder; give the path of a database file"),
    "db-folder-missing": Case(("--db", "{dir}/no/such/folder/cells.db", "ls", "records"),
                              "folder {dir}/no/such/folder does not exist"),
    "db-info-mistyped-path": Case(("--db", "{dir}/stroe.db", "db", "info"),
                                  "stroe.db does not exist; check the path"),
    "db-migrate-mistyped-path": Case(("--db", "{dir}/stroe.db", "db", "migrate"),
                                     "stroe.db does not exist; check the path"),
    "model-fit-epochs-unbounded": Case(("model", "fit", "--epochs", "999999999999"),
                                       "Invalid value for '--epochs'"),
    "model-predict-cycles-unbounded": Case(
        ("model", "predict", "--source", "lab-cell", "--cycles", "999999999"),
        "Invalid value for '--cycles'"),
    "model-sample-seed-unbounded": Case(("model", "sample", "--seed", str(2**64)),
                                        "Invalid value for '--seed'"),
})


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised store holding the base campaign, copied by every case."""
    folder = tmp_path_factory.mktemp("template")
    (folder / "campaign.yaml").write_text(campaign_yaml())
    store = Store(str(folder / "store.db"))
    store.init()
    store.create_campaign(load_model_file(CampaignSpec, folder / "campaign.yaml"))
    store.close()
    return folder / "store.db"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 137


@pytest.mark.parametrize("case_name", list(CASES))
def test_malformed_input_is_one_line_exit_2_and_writes_nothing(
        case_name: str, template_db: Path, tmp_path: Path) -> None:
    case = CASES[case_name]
    db = tmp_path / "store.db"
    shutil.copy(template_db, db)
    for name, content in case.files.items():
        target = tmp_path / name
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    argv = [part.format(dir=tmp_path, arbin=ARBIN) for part in case.argv]
    before = Store(str(db)).counts()
    files_before = _files(tmp_path)

    result = CliRunner().invoke(app, ["--db", str(db), *argv], env={"COLUMNS": "100"})

    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert case.expected.format(dir=tmp_path) in lines[0]
    assert "Traceback" not in result.output
    assert _files(tmp_path) == files_before, "a malformed input left a file behind"
    assert Store(str(db)).counts() == before


def _files(folder: Path) -> set[str]:
    """Every path under ``folder`` but the store's own SQLite side files."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if not p.name.endswith(("-wal", "-shm", "-journal"))}
