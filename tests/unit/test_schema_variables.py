"""Design variables: SI conversion of bounds, coercion, and the unit-interval maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from interphase.schema import (
    CategoricalVariable,
    ContinuousVariable,
    DesignSpace,
    IntegerVariable,
    InvalidInputError,
    parse_model,
)

pytestmark = pytest.mark.timeout(60)


def temperature() -> ContinuousVariable:
    return ContinuousVariable(name="T", lower=10, upper=45, unit="degC")


def diffusivity() -> ContinuousVariable:
    return ContinuousVariable(
        name="D", lower=1e-22, upper=1e-18, unit="m**2/s", log_scale=True
    )


def test_bounds_declared_in_degc_are_stored_in_kelvin() -> None:
    variable = temperature()
    assert variable.lower == pytest.approx(283.15)
    assert variable.upper == pytest.approx(318.15)
    assert variable.unit == "degC"
    assert variable.si_unit == "K"


def test_bounds_declared_in_ms_per_cm_are_stored_in_s_per_m() -> None:
    variable = ContinuousVariable(name="kappa", lower=1, upper=15, unit="mS/cm")
    assert (variable.lower, variable.upper) == pytest.approx((0.1, 1.5))
    assert variable.si_unit == "S/m"


def test_dimensionless_unit_is_stored_as_one() -> None:
    variable = ContinuousVariable(name="x", lower=10, upper=90, unit="percent")
    assert (variable.lower, variable.upper) == pytest.approx((0.1, 0.9))
    assert variable.si_unit == "1"


def test_variable_without_unit_keeps_its_bounds() -> None:
    variable = ContinuousVariable(name="x", lower=-1.5, upper=2.5)
    assert (variable.lower, variable.upper, variable.si_unit) == (-1.5, 2.5, "")


def test_dump_and_reload_does_not_convert_twice() -> None:
    variable = temperature()
    assert ContinuousVariable.model_validate(variable.model_dump()) == variable


def test_allowed_range_reports_si_and_declared_unit() -> None:
    assert temperature().allowed() == "[283.15, 318.15] K in SI (= [10, 45] degC)"
    assert diffusivity().allowed() == "[1e-22, 1e-18] m**2/s, log scale"


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"lower": 1.0, "upper": 0.0}, "upper", "must be greater than lower"),
        ({"lower": 1.0, "upper": 1.0}, "upper", "must be greater than lower"),
        ({"lower": 0.0, "upper": 1.0, "log_scale": True}, "lower", "log_scale needs lower > 0"),
        ({"lower": -1.0, "upper": 1.0, "log_scale": True}, "lower", "log_scale needs lower > 0"),
        ({"lower": 0.0, "upper": math.inf}, "lower", "finite"),
        ({"lower": math.nan, "upper": 1.0}, "lower", "finite"),
        ({"lower": 10**400, "upper": 1.0, "unit": "K"}, "lower", "too large"),
    ],
)
def test_continuous_bounds_are_checked(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        ContinuousVariable(name="x1", **kwargs)
    cause = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(cause, InvalidInputError)
    assert cause.field == field
    assert fragment in cause.problem
    if "too large" not in fragment:
        assert "variable 'x1'" in cause.problem


def test_unknown_unit_of_a_variable_is_named() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(ContinuousVariable,
                    {"name": "x", "lower": 0.0, "upper": 1.0, "unit": "parsecs_per_gram"})
    assert info.value.field == "unit"
    assert "unknown unit 'parsecs_per_gram'" in info.value.problem


def test_log_scale_in_degc_is_checked_in_kelvin() -> None:
    # -10 degC is 263.15 K > 0, so a log scale is allowed: the check runs on SI values.
    variable = ContinuousVariable(name="T", lower=-10, upper=40, unit="degC", log_scale=True)
    assert variable.lower == pytest.approx(263.15)


def test_integer_and_categorical_constraints() -> None:
    with pytest.raises(ValidationError, match="upper \\(3\\) must be greater than lower \\(3\\)"):
        IntegerVariable(name="n", lower=3, upper=3)
    with pytest.raises(ValidationError, match="choices must be distinct"):
        CategoricalVariable(name="c", choices=("a", "a"))
    with pytest.raises(ValidationError, match="at least 2 items"):
        CategoricalVariable(name="c", choices=("a",))


@pytest.mark.parametrize("name", ["", "1abc", "has\nnewline", "x" * 121, "semi;colon"])
def test_variable_name_pattern(name: str) -> None:
    with pytest.raises(ValidationError):
        IntegerVariable(name=name, lower=0, upper=1)


@pytest.mark.parametrize("name", ["T", "_x", "Ambient temperature [K]", "c.rate-1/2"])
def test_variable_names_in_pybamm_style_are_allowed(name: str) -> None:
    assert IntegerVariable(name=name, lower=0, upper=1).name == name


class TestContinuousCoerce:
    def test_numbers_in_bounds_pass_through_as_float(self) -> None:
        variable = temperature()
        assert variable.coerce(300) == 300.0
        assert isinstance(variable.coerce(300), float)

    def test_quantity_strings_are_converted(self) -> None:
        assert temperature().coerce("25 degC") == pytest.approx(298.15)
        assert temperature().coerce("300 K") == 300.0

    def test_value_a_rounding_error_outside_is_clipped_to_the_bound(self) -> None:
        variable = ContinuousVariable(name="x", lower=1.0, upper=2.0)
        assert variable.coerce(2.0 + 1e-13) == 2.0
        assert variable.coerce(1.0 - 1e-13) == 1.0

    @pytest.mark.parametrize("value", [283.0, 318.2, math.nan, math.inf, -math.inf])
    def test_out_of_bounds_names_variable_and_range(self, value: float) -> None:
        with pytest.raises(InvalidInputError) as info:
            temperature().coerce(value)
        assert info.value.field == "T"
        assert "[283.15, 318.15] K in SI (= [10, 45] degC)" in info.value.problem

    @pytest.mark.parametrize("value", [True, None, [300.0], {"v": 300.0}])
    def test_non_numbers_are_rejected(self, value: object) -> None:
        with pytest.raises(InvalidInputError) as info:
            temperature().coerce(value)
        assert info.value.field == "T"
        assert "expected a number" in info.value.problem

    def test_quantity_in_wrong_dimension_is_rejected(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            temperature().coerce("25 nm")
        assert info.value.field == "T"
        assert "wrong dimension" in info.value.problem

    def test_huge_integer_is_rejected_as_invalid_input(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            temperature().coerce(10**400)
        assert info.value.field == "T"

    @pytest.mark.parametrize("text", ["nan K", "9**9**9 K"])
    def test_unreadable_quantity_strings_are_rejected(self, text: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            temperature().coerce(text)
        assert info.value.field == "T"


class TestIntegerCoerce:
    def test_integral_floats_snap_to_int(self) -> None:
        variable = IntegerVariable(name="n", lower=1, upper=5)
        assert variable.coerce(3.0) == 3
        assert type(variable.coerce(3.0)) is int

    @pytest.mark.parametrize("value", [3.5, True, "3", None])
    def test_non_integers_are_rejected(self, value: object) -> None:
        with pytest.raises(InvalidInputError) as info:
            IntegerVariable(name="n", lower=1, upper=5).coerce(value)
        assert info.value.field == "n"
        assert "integers in [1, 5]" in info.value.problem

    @pytest.mark.parametrize("value", [0, 6, -100])
    def test_out_of_bounds(self, value: int) -> None:
        with pytest.raises(InvalidInputError) as info:
            IntegerVariable(name="n", lower=1, upper=5).coerce(value)
        assert info.value.problem == f"{value} is outside the allowed range integers in [1, 5]"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(np.int64(3), id="numpy-int64"),
        pytest.param(np.float32(0.5), id="numpy-float32"),
    ],
)
def test_numpy_scalars_are_accepted(value: object) -> None:
    # Values read from an array are numpy scalars; they are stored as plain int/float.
    space = DesignSpace(
        variables=(
            IntegerVariable(name="n", lower=1, upper=5),
            ContinuousVariable(name="x", lower=0, upper=1),
        )
    )
    values = {"n": 3, "x": 0.5}
    values["n" if isinstance(value, np.integer) else "x"] = value
    design = space.validate_design(values)
    assert design.values == {"n": 3, "x": 0.5}
    assert type(design.values["n"]) is int and type(design.values["x"]) is float


def test_categorical_coerce() -> None:
    variable = CategoricalVariable(name="additive", choices=("VC", "FEC", "none"))
    assert variable.coerce("FEC") == "FEC"
    with pytest.raises(InvalidInputError) as info:
        variable.coerce("vc")
    assert info.value.field == "additive"
    assert info.value.problem == "'vc' is not allowed; expected one of 'VC', 'FEC', 'none'"


class TestUnitMaps:
    def test_linear_map_hits_the_ends_and_the_middle(self) -> None:
        variable = ContinuousVariable(name="x", lower=-2.0, upper=6.0)
        assert [variable.to_unit(v) for v in (-2.0, 2.0, 6.0)] == [0.0, 0.5, 1.0]
        assert [variable.from_unit(u) for u in (0.0, 0.5, 1.0)] == [-2.0, 2.0, 6.0]

    def test_log_map_puts_the_geometric_mean_in_the_middle(self) -> None:
        variable = diffusivity()
        assert variable.to_unit(1e-20) == pytest.approx(0.5)
        assert variable.from_unit(0.25) == pytest.approx(1e-21, rel=1e-9)
        assert variable.from_unit(0.0) == 1e-22
        assert variable.from_unit(1.0) == 1e-18

    def test_from_unit_never_leaves_the_bounds(self) -> None:
        # Unclamped, lower + 1.0 * (upper - lower) rounds to 273.1500000000233 here.
        variable = ContinuousVariable(name="x", lower=-262144.85, upper=273.15)
        assert variable.from_unit(1.0) == variable.upper

    def test_from_unit_clips_outside_the_cube(self) -> None:
        variable = ContinuousVariable(name="x", lower=0.0, upper=1.0)
        assert variable.from_unit(-0.5) == 0.0
        assert variable.from_unit(1.5) == 1.0

    def test_integers_own_equal_bins(self) -> None:
        variable = IntegerVariable(name="n", lower=1, upper=4)
        assert [variable.to_unit(v) for v in (1, 2, 3, 4)] == [0.125, 0.375, 0.625, 0.875]
        assert [variable.from_unit(u) for u in (0.0, 0.24, 0.26, 0.74, 0.76, 1.0)] == [
            1, 1, 2, 3, 4, 4,
        ]

    def test_categories_own_equal_bins(self) -> None:
        variable = CategoricalVariable(name="c", choices=("a", "b", "c"))
        assert [variable.to_unit(v) for v in "abc"] == pytest.approx([1 / 6, 0.5, 5 / 6])
        assert [variable.from_unit(u) for u in (0.0, 0.33, 0.34, 0.66, 0.67, 1.0)] == list("aabbcc")




@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ({"kind": "continuous", "name": "T", "lower": 1.0, "upper": 0.0}, "variables.1.upper"),
        ({"kind": "continuous", "name": "T", "lower": 0.0, "upper": 1.0, "log_scale": True},
         "variables.1.lower"),
        pytest.param({"kind": "integer", "name": "n", "lower": 3, "upper": 1},
                     "variables.1.upper",),
        pytest.param({"kind": "categorical", "name": "c", "choices": ["a", "a"]},
                     "variables.1.choices",),
    ],
)
def test_variable_error_path_is_a_document_path(variable: dict, field: str) -> None:
    data = {"variables": [{"kind": "integer", "name": "ok", "lower": 0, "upper": 1}, variable]}
    with pytest.raises(InvalidInputError) as info:
        parse_model(DesignSpace, data)
    assert info.value.field == field
    assert repr(variable["name"]) in info.value.problem  # the variable is named in the text


def test_si_unit_inconsistent_with_unit_is_rejected() -> None:
    # A stored variable carries si_unit; a hand-written one must not contradict its unit.
    with pytest.raises(InvalidInputError) as info:
        parse_model(
            ContinuousVariable,
            {"name": "T", "lower": 280.0, "upper": 300.0, "unit": "degC", "si_unit": "m"},
        )
    assert info.value.field == "si_unit"
    assert "'K'" in info.value.problem
