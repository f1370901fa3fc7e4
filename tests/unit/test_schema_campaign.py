"""CampaignSpec parsing: field paths of errors, and fuzzing with mutated configs."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from interphase.schema import (
    CampaignSpec,
    CategoricalVariable,
    ContinuousVariable,
    DesignSpace,
    IntegerVariable,
    InvalidInputError,
    Objective,
    ObservableBound,
    Protocol,
    TargetSpec,
    parse_model,
)

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def campaign_dict() -> dict[str, Any]:
    """A valid campaign touching every model and every variable kind."""
    return {
        "name": "sei-demo.1",
        "description": "Thin, stable SEI at 300 cycles",
        "design_space": {
            "variables": [
                {"kind": "continuous", "name": "T", "lower": 10, "upper": 45, "unit": "degC"},
                {"kind": "continuous", "name": "D", "lower": 1e-22, "upper": 1e-18,
                 "unit": "m**2/s", "log_scale": True},
                {"kind": "integer", "name": "n", "lower": 1, "upper": 5},
                {"kind": "categorical", "name": "additive", "choices": ["VC", "FEC", "none"]},
            ]
        },
        "protocol": {
            "steps": ["Charge at 1C until 4.2 V", "Hold at 4.2 V until C/50",
                      "Discharge at 1C until 2.5 V"],
            "n_cycles": 300,
            "ambient_temperature_k": 298.15,
        },
        "target": {
            "bounds": [{"observable": "Capacity retention", "at_index": 300, "lower": 0.9,
                        "upper": 1.0}],
            "objectives": [{"observable": "SEI thickness [m]", "direction": "minimize"}],
            "fixed": {"additive": "VC", "T": "25 degC"},
            "design_bounds": {"T": [290.0, 310.0]},
        },
        "sources": ["pybamm-spm"],
        "seed": 7,
    }


# The model each dict of campaign_dict() is validated as.
MODEL_AT: dict[tuple[Any, ...], type[BaseModel]] = {
    (): CampaignSpec,
    ("design_space",): DesignSpace,
    ("design_space", "variables", 0): ContinuousVariable,
    ("design_space", "variables", 1): ContinuousVariable,
    ("design_space", "variables", 2): IntegerVariable,
    ("design_space", "variables", 3): CategoricalVariable,
    ("protocol",): Protocol,
    ("target",): TargetSpec,
    ("target", "bounds", 0): ObservableBound,
    ("target", "objectives", 0): Objective,
}


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def get_at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def keys_of_models() -> list[tuple[Any, ...]]:
    base = campaign_dict()
    return [(*where, key) for where in MODEL_AT for key in get_at(base, where)]


def is_required(path: tuple[Any, ...]) -> bool:
    # "kind" has a default on each variable class, but the union needs it to pick the class.
    return path[-1] == "kind" or MODEL_AT[path[:-1]].model_fields[path[-1]].is_required()


def all_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list index of a nested document, parents before children."""
    paths: list[tuple[Any, ...]] = []
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(
        data, list) else ()
    for key, value in children:
        paths.append((*prefix, key))
        paths.extend(all_paths(value, (*prefix, key)))
    return paths


def parse_or_error(data: Any) -> CampaignSpec | InvalidInputError:
    """Parse, allowing only InvalidInputError to escape; never a pydantic ValidationError."""
    try:
        return parse_model(CampaignSpec, data)
    except InvalidInputError as exc:
        assert not isinstance(exc, ValidationError)
        return exc


def test_valid_campaign_parses_to_si() -> None:
    spec = parse_model(CampaignSpec, campaign_dict())
    assert spec.design_space.names == ["T", "D", "n", "additive"]
    assert spec.design_space.variable("T").lower == pytest.approx(283.15)
    assert spec.protocol.n_cycles == 300
    assert spec.target is not None
    assert spec.target.fixed == {"additive": "VC", "T": "25 degC"}
    assert spec.seed == 7


def test_campaign_without_target_is_valid() -> None:
    data = campaign_dict()
    del data["target"]
    assert parse_model(CampaignSpec, data).target is None


REQUIRED = [p for p in keys_of_models() if is_required(p)]
OPTIONAL = [p for p in keys_of_models() if not is_required(p)]


def test_required_keys_are_the_ones_the_schema_declares() -> None:
    assert {dotted(p) for p in REQUIRED if len(p) == 1} == {"name", "design_space", "protocol"}
    assert ("design_space", "variables", 0, "lower") in REQUIRED
    assert ("protocol", "steps") in REQUIRED
    assert ("target", "objectives", 0, "direction") in REQUIRED


@pytest.mark.parametrize("path", REQUIRED, ids=dotted)
def test_dropping_a_required_key_names_it(path: tuple[Any, ...]) -> None:
    data = campaign_dict()
    del get_at(data, path[:-1])[path[-1]]
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    if path[-1] == "kind":
        # Without the tag pydantic cannot pick the union member, so the item is named.
        assert error.field == dotted(path[:-1])
        assert "discriminator 'kind'" in error.problem
    else:
        assert error.field == dotted(path)
        assert error.problem == "missing required field"


@pytest.mark.parametrize("path", OPTIONAL, ids=dotted)
def test_dropping_an_optional_key_keeps_the_campaign_valid(path: tuple[Any, ...]) -> None:
    data = campaign_dict()
    del get_at(data, path[:-1])[path[-1]]
    result = parse_or_error(data)
    if path == ("design_space", "variables", 0, "unit"):
        # T's bounds now read as 10..45 K, so the fixed 25 degC falls outside.
        assert isinstance(result, InvalidInputError)
        assert result.field == "target.fixed.T"
    else:
        assert isinstance(result, CampaignSpec), result


@pytest.mark.parametrize("where", list(MODEL_AT), ids=lambda w: dotted(w) or "<root>")
def test_unknown_key_is_named_with_the_allowed_fields(where: tuple[Any, ...]) -> None:
    data = campaign_dict()
    get_at(data, where)["colour"] = "blue"
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == dotted((*where, "colour"))
    allowed = ", ".join(MODEL_AT[where].model_fields)
    assert error.problem == f"unknown field; allowed fields: {allowed}"


@pytest.mark.parametrize(
    "index",
    [
        0,
        1,
        2,
    ],
)
def test_variable_with_lower_above_upper_is_named(index: int) -> None:
    data = campaign_dict()
    variable = data["design_space"]["variables"][index]
    variable["lower"], variable["upper"] = variable["upper"], variable["lower"]
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == f"design_space.variables.{index}.upper"
    assert "must be greater than lower" in error.problem
    assert repr(variable["name"]) in error.problem


def test_observable_bound_with_lower_above_upper_is_named() -> None:
    data = campaign_dict()
    data["target"]["bounds"][0].update(lower=1.0, upper=0.9)
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "target.bounds.0.upper"
    assert error.problem == "upper (0.9) is below lower (1)"


def test_design_bounds_with_lower_above_upper_are_named() -> None:
    data = campaign_dict()
    data["target"]["design_bounds"]["T"] = [310.0, 290.0]
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "target.design_bounds.T"


def test_fixed_value_outside_the_space_is_named() -> None:
    data = campaign_dict()
    data["target"]["fixed"]["T"] = "80 degC"
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "target.fixed.T"
    assert "outside the allowed range" in error.problem


def test_fixed_value_for_an_unknown_variable_is_named() -> None:
    data = campaign_dict()
    data["target"]["fixed"]["pressure"] = 1.0
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "target.fixed.pressure"


def test_design_bounds_on_a_categorical_variable_are_rejected() -> None:
    data = campaign_dict()
    data["target"]["design_bounds"] = {"additive": [0.0, 1.0]}
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "target.design_bounds.additive"


@pytest.mark.parametrize(
    "design_bounds",
    [{"pressure": [0.0, 1.0]}, {"T": [100.0, 200.0]}],
    ids=["unknown-variable", "outside-the-space"],
)
def test_design_bounds_errors_are_named_under_target(design_bounds: dict) -> None:
    data = campaign_dict()
    data["target"]["design_bounds"] = design_bounds
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == f"target.design_bounds.{next(iter(design_bounds))}"


def test_bad_protocol_step_is_named_by_index() -> None:
    data = campaign_dict()
    data["protocol"]["steps"][1] = "Dance at 1C until 4.2 V"
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "protocol.steps.1"


def test_unknown_observable_in_target_is_named() -> None:
    data = campaign_dict()
    data["target"]["objectives"][0]["observable"] = "Happiness [-]"
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == "target.objectives.0.observable"
    assert "SEI thickness [m]" in error.problem  # the known names are listed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("design_space", "variables", 0, "lower"), 10**400),
        (("target", "fixed", "T"), 10**400),
        (("design_space", "variables", 0, "unit"), ")"),
        (("design_space", "variables", 0, "unit"), "1/0"),
    ],
    ids=["huge-int-bound", "huge-int-fixed", "unit-tokenize-error", "unit-zero-division"],
)
def test_pathological_values_raise_invalid_input(path: tuple[Any, ...], value: Any) -> None:
    # OverflowError, TokenError and ZeroDivisionError are not ValueErrors, so pydantic
    # would let them escape unless the validators convert them.
    data = campaign_dict()
    get_at(data, path[:-1])[path[-1]] = value
    error = parse_or_error(data)
    assert isinstance(error, InvalidInputError)
    assert error.field == dotted(path)


@pytest.mark.parametrize("data", [None, [], "campaign", 3])
def test_top_level_non_mapping_is_rejected(data: Any) -> None:
    assert isinstance(parse_or_error(data), InvalidInputError)


# --- fuzzing mutations of a valid campaign ----------------------------------------------

WRONG_VALUES = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True), st.text(), st.lists(st.integers())
)
# Text that pint's tokenizer chokes on, for unit fields and quantity strings.
PINT_HOSTILE_TEXT = st.sampled_from([")", "(", "/", "*", "m**", "1/0", "{", "9**9**9 K", "[1"])


def wrong_values_for(path: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    if path[-1] == "unit" or path[:2] == ("target", "fixed"):
        return st.one_of(WRONG_VALUES, PINT_HOSTILE_TEXT)
    return WRONG_VALUES
PATHS = all_paths(campaign_dict())


@st.composite
def mutations(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """Apply one random mutation to ``data`` in place and describe it."""
    kind = draw(st.sampled_from(["drop", "add", "replace", "swap-bounds", "scale"]))
    live = all_paths(data)
    if kind == "drop" and live:
        path = draw(st.sampled_from(live))
        del get_at(data, path[:-1])[path[-1]]
    elif kind == "add":
        where = draw(st.sampled_from([p for p in [()] + live if isinstance(get_at(data, p), dict)]))
        get_at(data, where)["x-" + draw(st.text(max_size=8))] = draw(WRONG_VALUES)
    elif kind == "replace" and live:
        path = draw(st.sampled_from(live))
        get_at(data, path[:-1])[path[-1]] = draw(wrong_values_for(path))
    elif kind == "swap-bounds":
        holders = [p for p in [()] + live if isinstance(get_at(data, p), dict)
                   and {"lower", "upper"} <= set(get_at(data, p))]
        if holders:
            holder = get_at(data, draw(st.sampled_from(holders)))
            holder["lower"], holder["upper"] = holder["upper"], holder["lower"]
    elif kind == "scale":
        numeric = [p for p in live if isinstance(get_at(data, p), int | float)
                   and not isinstance(get_at(data, p), bool)]
        if numeric:
            path = draw(st.sampled_from(numeric))
            factor = draw(st.sampled_from([-1.0, 0.0, 1e-6, 1e6, math.inf, math.nan]))
            get_at(data, path[:-1])[path[-1]] = get_at(data, path) * factor
    return kind


@FUZZ
@given(data=st.data())
def test_mutated_campaign_parses_or_raises_invalid_input(data: st.DataObject) -> None:
    document = campaign_dict()
    for _ in range(data.draw(st.integers(1, 3))):
        data.draw(mutations(document))
    snapshot = copy.deepcopy(document)
    result = parse_or_error(document)
    assert document == snapshot or _has_nan(snapshot), "parse_model must not change its input"
    if isinstance(result, InvalidInputError):
        assert result.field
        assert str(result).startswith(f"{result.field}: ")
        assert result.problem
    else:
        assert isinstance(result, CampaignSpec)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


@FUZZ
@given(data=st.data())
def test_single_wrong_value_is_named_at_or_near_its_path(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(PATHS))
    value = data.draw(wrong_values_for(path))
    document = campaign_dict()
    get_at(document, path[:-1])[path[-1]] = value
    result = parse_or_error(document)
    if isinstance(result, InvalidInputError):
        assert result.field
        # The error is about the replaced value, an ancestor that cannot be read any more,
        # or the part of the target that refers to the design space.
        root = dotted(path[:2])
        assert result.field.startswith((root, "target")), (path, value, result)
