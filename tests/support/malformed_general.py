"""Malformed-input cases of general CLI inputs, merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

from interphase.schema.limits import MAX_DESCRIPTION_CHARS, MAX_NESTING_DEPTH
from support.malformed import Case

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


CASES: dict[str, Case] = {
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
}
