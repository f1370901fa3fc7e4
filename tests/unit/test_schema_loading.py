"""Reading YAML/JSON files into schema models with errors that name the file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interphase.schema import (
    CampaignSpec,
    DesignSpace,
    InvalidInputError,
    SourceSpec,
    TargetSpec,
    load_model_file,
    parse_model,
    read_structured_file,
)
from interphase.schema.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_NESTING_DEPTH,
    MAX_STRUCTURED_FILE_BYTES,
    MAX_VALUES,
)

pytestmark = pytest.mark.timeout(60)

CAMPAIGN_YAML = """\
name: sei-demo
design_space:
  variables:
    - {kind: continuous, name: T, lower: 10, upper: 45, unit: degC}
    - {kind: integer, name: n, lower: 1, upper: 5}
protocol:
  steps: ["Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V"]
  n_cycles: 100
  ambient_temperature_k: 298.15
target:
  objectives: [{observable: "SEI thickness [m]", direction: minimize}]
"""


def test_yaml_campaign_loads(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN_YAML, "utf-8")
    spec = load_model_file(CampaignSpec, path)
    assert spec.name == "sei-demo"
    assert spec.design_space.variable("T").lower == pytest.approx(283.15)
    assert spec.protocol.experiment_steps()[0] == (
        "Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V",
    )


def test_json_file_loads_the_same_model(tmp_path: Path) -> None:
    yaml_path = tmp_path / "campaign.yaml"
    yaml_path.write_text(CAMPAIGN_YAML, "utf-8")
    json_path = tmp_path / "campaign.json"
    json_path.write_text(json.dumps(read_structured_file(yaml_path)), "utf-8")
    assert load_model_file(CampaignSpec, json_path) == load_model_file(CampaignSpec, yaml_path)


def test_error_in_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN_YAML.replace("n_cycles: 100", "n_cycles: 0"), "utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_model_file(CampaignSpec, path)
    assert info.value.field == "campaign.yaml.protocol.n_cycles"
    assert "greater than or equal to 1" in info.value.problem


def test_custom_validator_error_in_file_keeps_its_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CAMPAIGN_YAML.replace("lower: 10, upper: 45", "lower: 45, upper: 10"), "utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_model_file(CampaignSpec, path)
    assert info.value.field == "c.yaml.design_space.variables.0.upper"
    assert "variable 'T'" in info.value.problem


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_model_file(CampaignSpec, tmp_path / "nope.yaml")
    assert info.value.field == str(tmp_path / "nope.yaml")
    assert info.value.problem == "file not found"


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("bad.yaml", "name: [unclosed", "not valid YAML"),
        ("bad.json", '{"name": ', "not valid JSON"),
        ("empty.yaml", "", "file is empty"),
    ],
)
def test_unreadable_documents(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_model_file(CampaignSpec, path)
    assert info.value.field == str(path)
    assert fragment in info.value.problem


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="cannot read as UTF-8"):
        read_structured_file(path)


def test_context_prefixes_the_field() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(TargetSpec, {"objectives": [{"observable": "SEI thickness [m]"}]}, "t.yaml")
    assert info.value.field == "t.yaml.objectives.0.direction"
    assert info.value.problem == "missing required field"


def test_discriminator_tag_is_dropped_from_the_path() -> None:
    data = {"variables": [{"kind": "integer", "name": "n", "lower": 1.5, "upper": 3}]}
    with pytest.raises(InvalidInputError) as info:
        parse_model(DesignSpace, data)
    assert info.value.field == "variables.0.lower"


def test_validator_error_field_is_not_repeated() -> None:
    # ObservableBound names its own field "observable"; the location already ends in it.
    data = {"bounds": [{"observable": "Happiness", "lower": 0.0}]}
    with pytest.raises(InvalidInputError) as info:
        parse_model(TargetSpec, data)
    assert info.value.field == "bounds.0.observable"


def test_empty_target_is_named() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(TargetSpec, {})
    assert info.value.field == "target"
    assert "at least one bound or one objective" in info.value.problem


def test_unknown_observable_of_a_source_is_named_by_index() -> None:
    data = {"name": "pybamm-spm", "version": "1", "technique": "simulation", "fidelity": 1,
            "observables": ["SEI thickness [m]", "Happiness"]}
    with pytest.raises(InvalidInputError) as info:
        parse_model(SourceSpec, data)
    assert info.value.field == "observables.1"


# ---- duplicate keys, nesting, aliases, size, folders

@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("top.yaml", "name: a\nname: b\n", "duplicate key 'name' at line 2 (first at line 1)"),
    ("nested.yaml", "protocol:\n  n_cycles: 1\n  n_cycles: 2\n", "duplicate key 'n_cycles' at line 3"),
    ("flow.yaml", "{a: 1, b: 2, a: 3}\n", "duplicate key 'a'"),
    ("numbers.yaml", "1: x\n1: y\n", "duplicate key 1"),
    ("top.json", '{"name": "a", "name": "b"}', "duplicate key 'name'"),
])
def test_a_repeated_key_is_refused_with_the_key_named(tmp_path: Path, name: str, text: str,
                                                       fragment: str) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidInputError) as caught:
        read_structured_file(path)
    assert caught.value.field == str(path)
    assert fragment in caught.value.problem


def test_a_merged_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n", "utf-8")
    assert read_structured_file(path)["other"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(("name", "text"), [
    ("deep.yaml", "a: " + "[" * 20_000 + "]" * 20_000),
    ("deep.json", '{"a": ' + "[" * 20_000 + "]" * 20_000 + "}"),
    ("deep-but-parsable.yaml", "a: " + "[" * 80 + "]" * 80),
    ("self.yaml", "&a [*a]"),
])
def test_nesting_past_the_limit_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidInputError) as caught:
        read_structured_file(path)
    assert caught.value.field == str(path)
    assert f"deeper than {MAX_NESTING_DEPTH} levels" in caught.value.problem


def test_nesting_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "limit.yaml"
    path.write_text("[" * MAX_NESTING_DEPTH + "]" * MAX_NESTING_DEPTH, "utf-8")
    data = read_structured_file(path)
    for _ in range(MAX_NESTING_DEPTH - 1):
        data = data[0]
    assert data == []


def test_an_alias_bomb_is_refused_in_bounded_time(tmp_path: Path) -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines), "utf-8")
    with pytest.raises(InvalidInputError, match=f"more than {MAX_VALUES:,} values"):
        read_structured_file(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * MAX_STRUCTURED_FILE_BYTES + b"\nname: a\n")
    with pytest.raises(InvalidInputError) as caught:
        read_structured_file(path)
    assert caught.value.field == str(path)
    assert f"at most {MAX_STRUCTURED_FILE_BYTES // 2**20} MiB" in caught.value.problem


def test_a_folder_is_called_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is a folder; give a YAML or JSON file"):
        read_structured_file(tmp_path)


@pytest.mark.parametrize(("dotted", "value"), [
    ("description", "x" * (MAX_DESCRIPTION_CHARS + 1)),
    ("design_space.variables.0.description", "x" * (MAX_DESCRIPTION_CHARS + 1)),
    ("protocol.steps.0", "Charge at 1C until 4.2 V" + " " * MAX_NAME_CHARS),
])
def test_free_text_over_its_limit_is_refused_with_the_field_named(dotted: str, value: str) -> None:
    import yaml

    data = yaml.safe_load(CAMPAIGN_YAML)
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    with pytest.raises(InvalidInputError) as caught:
        parse_model(CampaignSpec, data)
    assert caught.value.field == dotted
    assert "at most" in caught.value.problem


def test_free_text_at_its_limit_is_kept() -> None:
    import yaml

    data = {**yaml.safe_load(CAMPAIGN_YAML), "description": "x" * MAX_DESCRIPTION_CHARS}
    assert len(parse_model(CampaignSpec, data).description) == MAX_DESCRIPTION_CHARS
