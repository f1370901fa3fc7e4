"""Settings of the PyBaMM cell sources, the roles of design variables and design → experiment."""

from __future__ import annotations

import pytest

from interphase.schema import ContinuousVariable, DesignSpace, InvalidInputError, Protocol
from interphase.sources.base import SourceError
from interphase.sources.pybamm_cell import PyBaMMCellSource
from interphase.sources.pybamm_cell.config import (
    AMBIENT_TEMPERATURE,
    CHARGE_C_RATE,
    CHARGE_CUTOFF_VOLTAGE,
    DISCHARGE_C_RATE,
    config_from_world,
    design_roles,
)
from interphase.sources.pybamm_cell.observables import (
    PLATING_THICKNESS,
    RESISTANCE,
    declared_observables,
    observations,
    reference_cycle,
)
from interphase.sources.world import World, load_world

pytestmark = pytest.mark.timeout(60)

SOURCES = ("pybamm-spm", "pybamm-spme", "pybamm-dfn")


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("sei-life")


def test_the_world_declares_every_pybamm_source_with_rising_fidelity(world: World) -> None:
    configs = [config_from_world(world, name) for name in SOURCES]
    assert [c.model for c in configs] == ["SPM", "SPMe", "DFN"]
    assert configs[0].fidelity < configs[1].fidelity < configs[2].fidelity
    assert not configs[0].has_plating
    assert {c.options["lithium plating"] for c in configs[1:]} == {"partially reversible"}
    assert all(c.options["SEI"] == "solvent-diffusion limited" for c in configs)
    assert world.protocol.n_cycles in range(150, 301)
    # The lab's truth differs from every simulator: a mechanism they lack, hidden offsets.
    assert world.truth["simulator"]["options"]["loss of active material"] == "reaction-driven"
    assert all("loss of active material" not in c.options for c in configs)
    assert world.truth["parameter_factors"]


def test_design_values_arrive_in_si(world: World) -> None:
    space = world.design_space
    assert space.variable(AMBIENT_TEMPERATURE).lower == pytest.approx(283.15)
    assert space.variable(AMBIENT_TEMPERATURE).upper == pytest.approx(318.15)
    assert space.variable("Initial SEI thickness [m]").lower == pytest.approx(2e-9)
    sei_rate = space.variable("SEI solvent diffusivity [m2.s-1]")
    assert sei_rate.log_scale and sei_rate.upper / sei_rate.lower >= 100


def test_roles_split_controls_temperature_and_parameters(world: World) -> None:
    roles = design_roles(world.design_space)
    assert roles.temperature
    assert roles.controls == (CHARGE_C_RATE, DISCHARGE_C_RATE, CHARGE_CUTOFF_VOLTAGE)
    assert "SEI solvent diffusivity [m2.s-1]" in roles.parameters
    assert AMBIENT_TEMPERATURE not in roles.parameters
    assert dict(roles.rate_floors) == {CHARGE_C_RATE: 0.3, DISCHARGE_C_RATE: 0.5}


def test_spec_declares_plating_only_with_plating(world: World) -> None:
    spm, spme = PyBaMMCellSource(world, "pybamm-spm"), PyBaMMCellSource(world, "pybamm-spme")
    assert PLATING_THICKNESS not in spm.spec.observables
    assert PLATING_THICKNESS in spme.spec.observables
    assert RESISTANCE in spm.spec.observables
    assert spm.spec.technique == "simulation"
    assert "pybamm" in spm.spec.version


def test_cost_is_per_cycle_and_needs_no_lab(world: World) -> None:
    source = PyBaMMCellSource(world, "pybamm-dfn")
    design = world.design_space.sample_sobol(1, 0)[0]
    short = source.estimate_cost(design, world.protocol.model_copy(update={"n_cycles": 10}))
    long = source.estimate_cost(design, world.protocol)
    per_cycle = (long.cpu_seconds - short.cpu_seconds) / (world.protocol.n_cycles - 10)
    assert per_cycle == pytest.approx(source.config.cost.seconds_per_cycle)
    assert long.lab_hours == 0.0


def test_missing_settings_raise_a_source_error(world: World) -> None:
    with pytest.raises(SourceError, match="pybamm-xyz"):
        PyBaMMCellSource(world, "pybamm-xyz")


@pytest.mark.parametrize(("field", "value"), [("model", "P2D"), ("chunk_cycles", 0), ("rtol", -1.0),
                                              ("not_a_setting", 1)])
def test_bad_settings_name_the_field(world: World, field: str, value: object) -> None:
    settings = {**world.sources["pybamm-spm"], field: value}
    bad = world.model_copy(update={"sources": {"pybamm-spm": settings}})
    with pytest.raises(InvalidInputError, match=field):
        config_from_world(bad, "pybamm-spm")


def test_retention_is_relative_to_cycle_two() -> None:
    rows = [{"Discharge capacity [A.h]": c} for c in (5.0, 4.0, 3.0)]
    found = observations(rows, n_cycles=3, order=("Capacity retention",))
    assert [o.value for o in found] == [1.25, 1.0, 0.75]
    assert [o.index for o in found] == [1.0, 2.0, 3.0]
    assert reference_cycle(1) == 1
    assert observations(rows[:1], n_cycles=3, order=("Capacity retention",)) == ()


def test_declared_observables_are_registered() -> None:
    from interphase.schema import OBSERVABLES

    assert all(name in OBSERVABLES for name in declared_observables(has_plating=True))


# ---------------------------------------------------------------- design → experiment (imports PyBaMM)


def test_every_world_variable_is_an_input_of_the_parameter_set(world: World) -> None:
    from interphase.sources.pybamm_cell.experiment import TEMPERATURE_INPUT, parameter_values

    roles = design_roles(world.design_space)
    values = parameter_values(config_from_world(world, "pybamm-dfn"), roles)
    for name in roles.parameters:
        assert values[name].name == name  # an InputParameter of the same name
    assert values["Ambient temperature [K]"].name == TEMPERATURE_INPUT


def test_a_variable_that_is_no_parameter_is_refused(world: World) -> None:
    from interphase.sources.pybamm_cell.experiment import parameter_values

    space = DesignSpace(variables=(*world.design_space.variables,
                                   ContinuousVariable(name="Additive fraction", lower=0.0, upper=0.1)))
    with pytest.raises(SourceError, match="Additive fraction"):
        parameter_values(config_from_world(world, "pybamm-spm"), design_roles(space))


def test_the_plan_puts_the_design_into_the_steps(world: World) -> None:
    import pybamm

    from interphase.sources.pybamm_cell.experiment import cycle_plan

    plan = cycle_plan(world.protocol.steps, design_roles(world.design_space))
    charge, hold, rest, discharge, _ = plan
    assert [p.direction for p in plan] == ["charge", None, "rest", "discharge", "rest"]
    assert isinstance(charge.step.value, pybamm.Symbol)
    (cutoff,) = charge.step.termination
    assert cutoff.operator == ">" and cutoff.value.name == CHARGE_CUTOFF_VOLTAGE
    assert hold.step.value.name == CHARGE_CUTOFF_VOLTAGE
    assert discharge.step.termination[0].value == 2.5 and discharge.step.termination[0].operator == "<"
    assert charge.step.duration == pytest.approx(2 * 3600 / 0.3)
    assert discharge.step.duration == pytest.approx(2 * 3600 / 0.5)
    assert rest.time_limited and not charge.time_limited and not hold.time_limited


def test_without_controls_the_protocol_values_stay(world: World) -> None:
    from interphase.sources.pybamm_cell.experiment import cycle_plan, run_inputs

    space = DesignSpace(variables=(world.design_space.variable("SEI resistivity [Ohm.m]"),))
    roles = design_roles(space)
    plan = cycle_plan(("Charge at 0.5C until 4.1 V", "Discharge at 1C until 3 V"), roles)
    assert plan[0].step.value == -0.5 and plan[1].step.value == 1.0
    protocol = Protocol(steps=("Rest for 1 hour",), n_cycles=1, ambient_temperature_k=305.0)
    design = space.validate_design({"SEI resistivity [Ohm.m]": 2e5})
    inputs = run_inputs(design, protocol, roles)
    assert inputs == {"Ambient temperature setting [K]": 305.0, "SEI resistivity [Ohm.m]": 2e5}
