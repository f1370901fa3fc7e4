"""The design space: validation, unit-cube maps, Sobol sampling, and property-based fuzzing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import qmc

from interphase.schema import (
    CategoricalVariable,
    ContinuousVariable,
    Design,
    DesignSpace,
    IntegerVariable,
    InvalidInputError,
    canonical_hash,
    canonical_json,
)

pytestmark = pytest.mark.timeout(120)

# Derandomised so that a run is reproducible, as the fixed-seed fixtures are elsewhere.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def space() -> DesignSpace:
    return DesignSpace(
        variables=(
            ContinuousVariable(name="T", lower=10, upper=45, unit="degC"),
            ContinuousVariable(name="D", lower=1e-22, upper=1e-18, unit="m**2/s", log_scale=True),
            IntegerVariable(name="n", lower=1, upper=5),
            CategoricalVariable(name="additive", choices=("VC", "FEC", "none")),
        )
    )


def valid_values() -> dict[str, Any]:
    return {"T": 298.15, "D": 1e-20, "n": 3, "additive": "VC"}


class TestValidateDesign:
    def test_valid_design_is_returned_with_coerced_values(self, space: DesignSpace) -> None:
        design = space.validate_design({**valid_values(), "T": "25 degC", "n": 3.0}, label="cell-7")
        assert design.values == {"T": pytest.approx(298.15), "D": 1e-20, "n": 3, "additive": "VC"}
        assert type(design.values["n"]) is int
        assert design.label == "cell-7"

    def test_unknown_variable_is_named_with_the_allowed_names(self, space: DesignSpace) -> None:
        with pytest.raises(InvalidInputError) as info:
            space.validate_design({**valid_values(), "pressure": 1.0})
        assert info.value.field == "pressure"
        assert info.value.problem == "unknown variable; expected one of T, D, n, additive"

    def test_missing_variable_is_named_with_its_range(self, space: DesignSpace) -> None:
        values = valid_values()
        del values["T"]
        with pytest.raises(InvalidInputError) as info:
            space.validate_design(values)
        assert info.value.field == "T"
        assert info.value.problem == "missing; expected [283.15, 318.15] K in SI (= [10, 45] degC)"

    @pytest.mark.parametrize(
        ("name", "value", "allowed"),
        [
            ("T", 400.0, "[283.15, 318.15] K in SI (= [10, 45] degC)"),
            ("T", "50 degC", "[283.15, 318.15] K in SI (= [10, 45] degC)"),
            ("D", 1e-17, "[1e-22, 1e-18] m**2/s, log scale"),
            ("n", 6, "integers in [1, 5]"),
            ("n", 0, "integers in [1, 5]"),
        ],
    )
    def test_out_of_bounds_names_field_and_range(
        self, space: DesignSpace, name: str, value: Any, allowed: str
    ) -> None:
        with pytest.raises(InvalidInputError) as info:
            space.validate_design({**valid_values(), name: value})
        assert info.value.field == name
        assert "outside the allowed range" in info.value.problem
        assert allowed in info.value.problem

    def test_unknown_category_lists_the_choices(self, space: DesignSpace) -> None:
        with pytest.raises(InvalidInputError) as info:
            space.validate_design({**valid_values(), "additive": "LiPF6"})
        assert info.value.field == "additive"
        assert "one of 'VC', 'FEC', 'none'" in info.value.problem

    def test_non_mapping_is_rejected(self, space: DesignSpace) -> None:
        with pytest.raises(InvalidInputError) as info:
            space.validate_design([298.15, 1e-20, 3, "VC"])  # type: ignore[arg-type]
        assert info.value.field == "design"

    def test_unknown_keys_of_mixed_types_raise_invalid_input(self, space: DesignSpace) -> None:
        # YAML reads `1: 0.0` as an int key; sorting mixed key types must not raise TypeError.
        with pytest.raises(InvalidInputError) as info:
            space.validate_design({**valid_values(), 1: 0.0, "pressure": 1.0})
        assert info.value.field in {"1", "pressure"}

    def test_variable_lookup(self, space: DesignSpace) -> None:
        assert space.variable("n") == space.variables[2]
        with pytest.raises(InvalidInputError, match="unknown variable; expected one of T, D"):
            space.variable("Q")

    def test_names_dim_and_bounds(self, space: DesignSpace) -> None:
        assert space.names == ["T", "D", "n", "additive"]
        assert space.dim == 4
        bounds = space.bounds_si()
        assert bounds["T"] == pytest.approx((283.15, 318.15))
        assert bounds["n"] == (1, 5)
        assert bounds["additive"] == ("VC", "FEC", "none")

    def test_duplicate_names_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="duplicate variable name 'x'"):
            DesignSpace(
                variables=(
                    IntegerVariable(name="x", lower=0, upper=1),
                    ContinuousVariable(name="x", lower=0, upper=1),
                )
            )


class TestUnitCube:
    def test_known_design_maps_to_known_point(self, space: DesignSpace) -> None:
        cube = space.to_unit_cube([space.validate_design(valid_values())])
        assert cube.shape == (1, 4)
        assert cube[0] == pytest.approx([15 / 35, 0.5, 0.5, 1 / 6])

    def test_round_trip_is_exact_for_integers_and_categories(self, space: DesignSpace) -> None:
        designs = [
            space.validate_design({**valid_values(), "n": n, "additive": a})
            for n in range(1, 6)
            for a in ("VC", "FEC", "none")
        ]
        back = space.from_unit_cube(space.to_unit_cube(designs))
        assert [(d.values["n"], d.values["additive"]) for d in back] == [
            (d.values["n"], d.values["additive"]) for d in designs
        ]
        for original, decoded in zip(designs, back, strict=True):
            assert decoded.values["T"] == pytest.approx(original.values["T"], rel=1e-12)
            assert decoded.values["D"] == pytest.approx(original.values["D"], rel=1e-9)

    def test_from_unit_cube_checks_columns(self, space: DesignSpace) -> None:
        with pytest.raises(InvalidInputError) as info:
            space.from_unit_cube(np.zeros((2, 3)))
        assert info.value.field == "cube"
        assert "expected 4 columns, got 3" in info.value.problem

    def test_from_unit_cube_accepts_a_single_row(self, space: DesignSpace) -> None:
        (design,) = space.from_unit_cube(np.array([0.0, 1.0, 0.0, 1.0]))
        assert design.values == {"T": pytest.approx(283.15), "D": 1e-18, "n": 1, "additive": "none"}


class TestSobol:
    def test_samples_are_valid_designs(self, space: DesignSpace) -> None:
        designs = space.sample_sobol(64, seed=11)
        assert len(designs) == 64
        for design in designs:
            assert space.validate_design(design.values) == design
        assert {d.values["additive"] for d in designs} == {"VC", "FEC", "none"}
        assert {d.values["n"] for d in designs} == {1, 2, 3, 4, 5}

    def test_same_seed_same_sample_other_seed_other_sample(self, space: DesignSpace) -> None:
        first = space.sample_sobol(16, seed=3)
        assert space.sample_sobol(16, seed=3) == first
        assert space.sample_sobol(16, seed=4) != first

    @pytest.mark.parametrize("n", [1, 5, 17])
    def test_counts_that_are_not_powers_of_two(self, space: DesignSpace, n: int) -> None:
        assert len(space.sample_sobol(n, seed=0)) == n

    def test_zero_samples_is_an_error(self, space: DesignSpace) -> None:
        with pytest.raises(InvalidInputError) as info:
            space.sample_sobol(0, seed=0)
        assert info.value.field == "n"

    def test_discrepancy_is_lower_than_uniform_random(self) -> None:
        continuous = DesignSpace(
            variables=(
                ContinuousVariable(name="T", lower=10, upper=45, unit="degC"),
                ContinuousVariable(name="D", lower=1e-22, upper=1e-18, log_scale=True),
                ContinuousVariable(name="c", lower=0.5, upper=1.5, unit="mol/L"),
            )
        )
        n = 128
        sobol = continuous.to_unit_cube(continuous.sample_sobol(n, seed=5))
        random = np.random.default_rng(5).random((n, continuous.dim))
        assert sobol.min() >= 0.0 and sobol.max() <= 1.0
        # A scrambled Sobol net of 128 points in 3-D sits near 1e-4; uniform draws near 1e-3.
        assert qmc.discrepancy(sobol) < 0.5 * qmc.discrepancy(random)


def test_design_hash_ignores_label_and_key_order() -> None:
    a = Design(values={"x": 1.0, "c": "VC"}, label="a")
    b = Design(values={"c": "VC", "x": 1.0}, label="b")
    assert a.content_hash() == b.content_hash() == canonical_hash({"c": "VC", "x": 1.0})
    assert Design(values={"x": 2.0, "c": "VC"}).content_hash() != a.content_hash()
    assert canonical_json({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}'


# --- property-based fuzzing -------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
# Multiplicative units only, so that a positive declared lower bound stays positive in SI.
SCALED_UNITS = st.sampled_from(["", "m", "nm", "mS/cm", "mol/L", "m**2/s", "V", "mA*h"])


@st.composite
def continuous_variables(draw: st.DrawFn, name: str) -> ContinuousVariable:
    if draw(st.booleans()):
        low_exp = draw(st.floats(-12, 6))
        high_exp = low_exp + draw(st.floats(0.01, 12))
        return ContinuousVariable(
            name=name, lower=10**low_exp, upper=10**high_exp, unit=draw(SCALED_UNITS),
            log_scale=True,
        )
    lower = draw(st.floats(-1e6, 1e6))
    width = draw(st.floats(1e-3, 1e6)) * max(1.0, abs(lower))
    unit = draw(st.sampled_from(["", "degC", "K", "mV", "um"]))
    return ContinuousVariable(name=name, lower=lower, upper=lower + width, unit=unit)


@st.composite
def integer_variables(draw: st.DrawFn, name: str) -> IntegerVariable:
    lower = draw(st.integers(-1000, 1000))
    return IntegerVariable(name=name, lower=lower, upper=lower + draw(st.integers(1, 1000)))


@st.composite
def categorical_variables(draw: st.DrawFn, name: str) -> CategoricalVariable:
    choices = draw(st.lists(st.text(min_size=1, max_size=6), min_size=2, max_size=6, unique=True))
    return CategoricalVariable(name=name, choices=tuple(choices))


@st.composite
def design_spaces(draw: st.DrawFn) -> DesignSpace:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    kinds = [continuous_variables, integer_variables, categorical_variables]
    return DesignSpace(variables=tuple(draw(draw(st.sampled_from(kinds))(name)) for name in names))


def in_bounds_value(variable: Any) -> st.SearchStrategy[Any]:
    if isinstance(variable, CategoricalVariable):
        return st.sampled_from(variable.choices)
    if isinstance(variable, IntegerVariable):
        return st.integers(variable.lower, variable.upper)
    return st.floats(variable.lower, variable.upper)


def out_of_bounds_value(variable: Any) -> st.SearchStrategy[Any]:
    if isinstance(variable, CategoricalVariable):
        return st.text(max_size=8).filter(lambda text: text not in variable.choices)
    if isinstance(variable, IntegerVariable):
        return st.one_of(
            st.integers(max_value=variable.lower - 1), st.integers(min_value=variable.upper + 1)
        )
    # A margin well beyond the 1e-12 relative tolerance coerce allows for rounding.
    scale = abs(variable.lower) + (variable.upper - variable.lower)
    margins = st.floats(1e-3, 10.0).map(lambda f: f * scale)
    return st.one_of(
        margins.map(lambda m: variable.lower - m),
        margins.map(lambda m: variable.upper + m),
        st.sampled_from([math.nan, math.inf, -math.inf]),
    )


@FUZZ
@given(data=st.data())
def test_random_in_bounds_designs_validate_and_round_trip(data: st.DataObject) -> None:
    space = data.draw(design_spaces())
    values = {v.name: data.draw(in_bounds_value(v)) for v in space.variables}
    design = space.validate_design(values)
    assert design.values == values

    cube = space.to_unit_cube([design])
    assert cube.shape == (1, space.dim)
    assert np.all((cube >= 0.0) & (cube <= 1.0))

    (decoded,) = space.from_unit_cube(cube)
    for variable in space.variables:
        original, back = values[variable.name], decoded.values[variable.name]
        if isinstance(variable, ContinuousVariable):
            tolerance = 1e-9 * (variable.upper - variable.lower)
            if variable.log_scale:
                tolerance = 1e-9 * abs(original)
            assert back == pytest.approx(original, abs=tolerance, rel=0)
        else:
            assert back == original


@FUZZ
@given(data=st.data())
def test_every_point_of_the_cube_decodes_to_a_valid_design(data: st.DataObject) -> None:
    space = data.draw(design_spaces())
    row = data.draw(st.lists(st.floats(-0.5, 1.5), min_size=space.dim, max_size=space.dim))
    (design,) = space.from_unit_cube(np.array([row]))
    # Exactly equal: decoded values lie inside the bounds, so validation does not clip them.
    assert space.validate_design(design.values) == design


@FUZZ
@given(data=st.data())
def test_random_out_of_bounds_values_are_rejected_by_name(data: st.DataObject) -> None:
    space = data.draw(design_spaces())
    values = {v.name: data.draw(in_bounds_value(v)) for v in space.variables}
    variable = data.draw(st.sampled_from(space.variables))
    values[variable.name] = data.draw(out_of_bounds_value(variable))
    with pytest.raises(InvalidInputError) as info:
        space.validate_design(values)
    assert info.value.field == variable.name
    assert variable.name in str(info.value)
    assert variable.allowed() in info.value.problem


@FUZZ
@given(data=st.data())
def test_sobol_samples_of_random_spaces_are_in_bounds(data: st.DataObject) -> None:
    space = data.draw(design_spaces())
    n, seed = data.draw(st.integers(1, 40)), data.draw(st.integers(0, 2**32 - 1))
    designs = space.sample_sobol(n, seed=seed)
    assert len(designs) == n
    for design in designs:
        assert space.validate_design(design.values) == design
    assert space.sample_sobol(n, seed=seed) == designs


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_validate_design_only_raises_invalid_input(data: st.DataObject) -> None:
    space = DesignSpace(
        variables=(
            ContinuousVariable(name="T", lower=10, upper=45, unit="degC"),
            ContinuousVariable(name="D", lower=1e-22, upper=1e-18, log_scale=True),
            IntegerVariable(name="n", lower=1, upper=5),
            CategoricalVariable(name="additive", choices=("VC", "FEC")),
        )
    )
    # Mostly real names, so that values reach each variable's coercion; YAML allows int keys.
    keys = st.one_of(st.sampled_from(space.names), st.text(max_size=6), st.integers())
    values = data.draw(st.dictionaries(keys, JSON_VALUES, max_size=6))
    try:
        design = space.validate_design(values)
    except InvalidInputError as exc:
        # The error names an input key (possibly the empty string) or a variable.
        assert exc.field in {str(key) for key in values} | set(space.names)
        assert str(exc).startswith(exc.field)
    else:
        assert set(design.values) == set(space.names)
