"""The PyBaMM cell sources with real solves: numbers equal a bare PyBaMM solve, storage,
failures as results, determinism, the simulation cache, and plating/resistance on SPMe and DFN.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from interphase.schema import ContinuousVariable, Design, DesignSpace, FailureKind, Protocol, ResultStatus
from interphase.sources import run_safely
from interphase.sources.pybamm_cell import PyBaMMCellSource, SimulationCache
from interphase.sources.world import World, load_world
from interphase.store import Store

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
RETENTION = "Capacity retention"
CYCLES = 100


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("sei-life")


@pytest.fixture(scope="module")
def centre(world: World) -> Design:
    """The centre of the world's unit cube (log-scaled variables at their geometric mean)."""
    return world.design_space.from_unit_cube(np.full((1, world.design_space.dim), 0.5))[0]


@pytest.fixture(scope="module")
def spm_run(world: World, centre: Design):
    source = PyBaMMCellSource(world, "pybamm-spm", cache=SimulationCache())
    protocol = world.protocol.model_copy(update={"n_cycles": CYCLES})
    return source, run_safely(source, centre, protocol, seed=7)


def bare_spm_retention(values: dict[str, float], n_cycles: int) -> np.ndarray:
    """Retention per cycle from PyBaMM alone: the world's cycle with the design as inputs."""
    import pybamm

    parameters = pybamm.ParameterValues("OKane2022")
    temperature = pybamm.InputParameter("T")
    parameters.update({"Ambient temperature [K]": temperature, "Initial temperature [K]": temperature})
    names = ("SEI solvent diffusivity [m2.s-1]", "SEI resistivity [Ohm.m]", "Initial SEI thickness [m]",
             "Initial concentration in electrolyte [mol.m-3]")
    parameters.update({name: "[input]" for name in names})
    charge_rate, discharge_rate = pybamm.InputParameter("Ich"), pybamm.InputParameter("Idis")
    cutoff = pybamm.InputParameter("Vmax")
    cycle = (
        pybamm.step.c_rate(-charge_rate, duration=2 * 3600 / 0.3, direction="charge",
                           termination=[pybamm.step.VoltageTermination(cutoff, operator=">")]),
        pybamm.step.voltage(cutoff, termination=[pybamm.step.CRateTermination(1 / 20)]),
        pybamm.step.string("Rest for 10 minutes"),
        pybamm.step.c_rate(discharge_rate, duration=2 * 3600 / 0.5, direction="discharge",
                           termination=[pybamm.step.VoltageTermination(2.5, operator="<")]),
        pybamm.step.string("Rest for 10 minutes"),
    )
    simulation = pybamm.Simulation(
        pybamm.lithium_ion.SPM({"SEI": "solvent-diffusion limited"}),
        experiment=pybamm.Experiment([cycle] * n_cycles), parameter_values=parameters,
        solver=pybamm.IDAKLUSolver(rtol=1e-4, atol=1e-6, output_variables=["Discharge capacity [A.h]"]))
    inputs = {"T": values["Ambient temperature [K]"], "Ich": values["Charge C-rate"],
              "Idis": values["Discharge C-rate"], "Vmax": values["Charge cut-off voltage [V]"]}
    inputs.update({name: values[name] for name in names})
    solution = simulation.solve(inputs=inputs, calc_esoh=False)
    capacity = np.array([c.steps[3]["Discharge capacity [A.h]"].entries[-1]
                         - c.steps[3]["Discharge capacity [A.h]"].entries[0] for c in solution.cycles])
    return capacity / capacity[1]


def by_observable(result) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    for observation in result.observations:
        rows.setdefault(observation.observable, []).append(observation.value)
    return rows


def test_spm_over_100_cycles_matches_a_bare_pybamm_solve(spm_run, centre: Design) -> None:
    source, result = spm_run
    assert result.status is ResultStatus.SUCCEEDED, result.message
    assert result.cycles_run == CYCLES
    counts = Counter(o.observable for o in result.observations)
    assert counts == {name: CYCLES for name in source.spec.observables}
    assert all(o.index_unit == "cycle" for o in result.observations)
    retention = np.array(by_observable(result)[RETENTION])
    np.testing.assert_allclose(retention, bare_spm_retention(centre.values, CYCLES), rtol=0, atol=1e-9)
    assert 0.9 < retention[-1] < 1.0  # it fades, but not absurdly
    assert result.metadata["warnings"] == []


def test_a_result_is_stored_and_read_back_per_cycle(spm_run, tmp_path: Path) -> None:
    source, result = spm_run
    store = Store(f"sqlite:///{tmp_path / 'interphase.db'}")
    try:
        store.init()
        store.register_source(source.spec)
        stored = store.submit_result(result, idempotency_key="pybamm-spm:centre", campaign=None)
        again = store.get_result(stored.id).result
    finally:
        store.close()
    counts = Counter(o.observable for o in again.observations)
    assert counts == {name: CYCLES for name in source.spec.observables}
    assert again.observations == result.observations


def test_an_infeasible_parameter_gives_a_failed_result(world: World, centre: Design) -> None:
    # A world whose SEI may grow 10^5 times faster: the SEI resistance ends the run.
    variables = [v.model_copy(update={"upper": 1e-14}) if v.name == "SEI solvent diffusivity [m2.s-1]" else v
                 for v in world.design_space.variables]
    wide = world.model_copy(update={"design_space": DesignSpace(variables=tuple(variables))})
    source = PyBaMMCellSource(wide, "pybamm-spm", cache=SimulationCache())
    design = Design(values={**centre.values, "SEI solvent diffusivity [m2.s-1]": 1e-14})
    result = source.run(design, world.protocol.model_copy(update={"n_cycles": 20}), seed=0)
    assert result.status is ResultStatus.FAILED
    assert result.failure_kind is FailureKind.DETERMINISTIC
    assert "cycle" in result.message
    assert result.cycles_run is not None and result.cycles_run < 20
    assert Counter(o.observable for o in result.observations)["Discharge capacity [A.h]"] == result.cycles_run


def test_a_protocol_that_cannot_run_gives_a_failed_result(world: World, centre: Design) -> None:
    source = PyBaMMCellSource(world, "pybamm-spm", cache=SimulationCache())
    # Twenty hours at 1C runs the cell far below its minimum voltage.
    protocol = Protocol(steps=("Discharge at 1C for 20 hours",), n_cycles=3, ambient_temperature_k=298.15)
    result = source.run(centre, protocol, seed=0)
    assert result.status is ResultStatus.FAILED
    assert result.failure_kind is FailureKind.DETERMINISTIC
    assert "Minimum voltage" in result.message
    assert result.cycles_run == 0


def test_a_bad_setting_fails_the_run_without_raising(world: World, centre: Design) -> None:
    settings = {**world.sources["pybamm-spm"], "parameters": {"Not a parameter [m]": 1.0}}
    broken = world.model_copy(update={"sources": {"pybamm-spm": settings}})
    result = PyBaMMCellSource(broken, "pybamm-spm", cache=SimulationCache()).run(
        centre, world.protocol.model_copy(update={"n_cycles": 2}), seed=0)
    assert result.failure_kind is FailureKind.DETERMINISTIC
    assert "Not a parameter [m]" in result.message


def test_runs_are_deterministic_whatever_the_cache_held(world: World) -> None:
    first_design, design = world.design_space.sample_sobol(2, seed=3)
    protocol = world.protocol.model_copy(update={"n_cycles": 8})
    warm = PyBaMMCellSource(world, "pybamm-spm", cache=SimulationCache())
    warm.run(first_design, protocol, seed=1)
    once, twice = warm.run(design, protocol, seed=1), warm.run(design, protocol, seed=1)
    fresh = PyBaMMCellSource(world, "pybamm-spm", cache=SimulationCache()).run(design, protocol, seed=1)
    assert once.observations == twice.observations == fresh.observations
    assert once.provenance.params_hash == fresh.provenance.params_hash


def test_the_second_run_reuses_the_built_simulation(world: World) -> None:
    cache = SimulationCache()
    source = PyBaMMCellSource(world, "pybamm-spm", cache=cache)
    protocol = world.protocol.model_copy(update={"n_cycles": 5})
    first, second = world.design_space.sample_sobol(2, seed=5)
    source.run(first, protocol, seed=0)
    assert (cache.builds, cache.hits) == (1, 0)
    (simulation,) = cache.simulations()
    built = simulation.steps_to_built_models
    source.run(second, protocol, seed=0)
    assert (cache.builds, cache.hits) == (1, 1)
    assert cache.simulations() == [simulation]
    assert simulation.steps_to_built_models is built


def test_chunks_from_the_last_state_change_no_number(world: World, centre: Design) -> None:
    settings = {**world.sources["pybamm-spm"], "chunk_cycles": 3}
    chunked = world.model_copy(update={"sources": {"pybamm-spm": settings}})
    protocol = world.protocol.model_copy(update={"n_cycles": 8})
    in_chunks = PyBaMMCellSource(chunked, "pybamm-spm", cache=SimulationCache()).run(centre, protocol, seed=0)
    at_once = PyBaMMCellSource(world, "pybamm-spm", cache=SimulationCache()).run(centre, protocol, seed=0)
    assert in_chunks.metadata["chunks"] == 3 and at_once.metadata["chunks"] == 1
    # Chunks 1-2 share one simulation and are exact; the 2-cycle remainder is another one.
    assert in_chunks.observations[:6] == at_once.observations[:6]
    assert [o.observable for o in in_chunks.observations] == [o.observable for o in at_once.observations]
    np.testing.assert_allclose([o.value for o in in_chunks.observations],
                               [o.value for o in at_once.observations], rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["pybamm-spme", "pybamm-dfn"])
def test_spme_and_dfn_report_plating_and_resistance(world: World, centre: Design, name: str) -> None:
    source = PyBaMMCellSource(world, name, cache=SimulationCache())
    cycles = 3
    result = source.run(centre, world.protocol.model_copy(update={"n_cycles": cycles}), seed=0)
    assert result.status is ResultStatus.SUCCEEDED, result.message
    rows = by_observable(result)
    assert len(rows["Lithium plating thickness [m]"]) == cycles
    assert all(value > 0 for value in rows["Lithium plating thickness [m]"])
    assert len(rows["Resistance [Ohm]"]) == cycles
    assert all(0.1 < value < 10 for value in rows["Resistance [Ohm]"])


def test_a_space_with_a_bad_rate_floor_is_refused_at_run_time(world: World, centre: Design) -> None:
    zero_floor = ContinuousVariable(name="Charge C-rate", lower=0.0, upper=2.0)
    variables = [zero_floor if v.name == "Charge C-rate" else v for v in world.design_space.variables]
    odd = world.model_copy(update={"design_space": DesignSpace(variables=tuple(variables))})
    result = PyBaMMCellSource(odd, "pybamm-spm", cache=SimulationCache()).run(
        centre, world.protocol.model_copy(update={"n_cycles": 2}), seed=0)
    assert result.failure_kind is FailureKind.DETERMINISTIC
    assert "positive lower bound" in result.message
