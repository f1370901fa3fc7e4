"""The observable registry: names, canonical units, duplicate protection."""

from __future__ import annotations

import re

import pytest

from interphase.schema import OBSERVABLES, InvalidInputError, Observable, ObservableRegistry
from interphase.schema.observables import INDEX_UNITS
from interphase.schema.units import convert, parse_unit

pytestmark = pytest.mark.timeout(60)

# How PyBaMM's bracketed unit in a name reads in pint syntax.
BRACKET_TO_PINT = {
    "A.h": "A*h", "W.h": "W*h", "V": "V", "K": "K", "Ohm": "ohm", "%": "percent", "m": "m",
    "S.m-1": "S/m", "s": "s",
}


def test_builtin_registry_holds_the_pybamm_names() -> None:
    for name in ("Discharge capacity [A.h]", "Loss of lithium inventory [%]",
                 "SEI thickness [m]", "Resistance [Ohm]", "Capacity retention"):
        assert name in OBSERVABLES
    assert "Happiness" not in OBSERVABLES
    assert len(OBSERVABLES.names) == len(set(OBSERVABLES.names)) == 17


@pytest.mark.parametrize("name", OBSERVABLES.names)
def test_canonical_unit_parses_and_matches_the_name(name: str) -> None:
    observable = OBSERVABLES.get(name)
    parse_unit(observable.unit)
    bracket = re.search(r"\[(.+)\]$", name)
    if bracket is None:
        assert observable.unit == "", f"{name} has no unit in its name, so it is a ratio"
    else:
        # Same unit, not merely the same dimension: 1 in the name's unit is 1 canonical.
        assert convert(1.0, BRACKET_TO_PINT[bracket.group(1)], observable.unit) == 1.0


def test_capacity_and_energy_keep_the_battery_convention() -> None:
    assert OBSERVABLES.get("Discharge capacity [A.h]").unit == "A*h"
    assert OBSERVABLES.get("Charge energy [W.h]").unit == "W*h"
    assert convert(1.0, "A*h", "C") == 3600.0
    assert convert(1.0, "W*h", "J") == 3600.0


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as info:
        OBSERVABLES.get("Happiness")
    assert info.value.field == "observable"
    assert "unknown observable 'Happiness'" in info.value.problem
    assert "SEI thickness [m]" in info.value.problem


def test_registry_refuses_duplicates() -> None:
    registry = ObservableRegistry(observables=())
    thickness = Observable(name="Film thickness [m]", unit="m")
    registry.register(thickness)
    assert registry.get("Film thickness [m]") is thickness
    with pytest.raises(InvalidInputError, match="already registered"):
        registry.register(Observable(name="Film thickness [m]", unit="nm"))
    assert registry.names == ["Film thickness [m]"]


def test_fresh_registries_are_independent() -> None:
    registry = ObservableRegistry()
    registry.register(Observable(name="Swelling [m]", unit="m"))
    assert "Swelling [m]" in registry
    assert "Swelling [m]" not in OBSERVABLES


def test_index_units() -> None:
    assert INDEX_UNITS == ("cycle", "s", "K")


def test_observable_is_frozen_and_strict() -> None:
    observable = OBSERVABLES.get("SEI thickness [m]")
    with pytest.raises(ValueError):
        observable.unit = "nm"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Observable(name="x", unit="m", colour="blue")  # type: ignore[call-arg]
