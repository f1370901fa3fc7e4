"""Every malformed input ends in one red line naming the field, exit code 2 and no write.

The cases are data: each names the files it writes, the command line and a substring
the one-line message must contain. ``{dir}`` in a command line is the case's folder,
``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

import copy
import json
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from interphase.cli.main import app
from interphase.schema import CampaignSpec, load_model_file
from interphase.store import Store
from support import (
    malformed_bench,
    malformed_campaign,
    malformed_general,
    malformed_import,
    malformed_model,
    malformed_sources,
)
from support.malformed import Case

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
for _area in (malformed_import, malformed_sources, malformed_model, malformed_campaign, malformed_bench,
              malformed_general):
    CASES.update(_area.CASES)


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
    assert len(CASES) >= 24


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
