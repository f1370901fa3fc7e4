"""The PyBaMM cell sources honour a protocol's stop rule, with real solves."""

from __future__ import annotations

import os

import numpy as np
import pytest

from interphase.schema import Design, Protocol, Result, ResultStatus, StopRule
from interphase.sources.pybamm_cell import PyBaMMCellSource, SimulationCache
from interphase.sources.world import World, load_world
from interphase.store import Store

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
RETENTION = "Capacity retention"
CYCLES = 6


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("sei-life")


@pytest.fixture(scope="module")
def source(world: World) -> PyBaMMCellSource:
    return PyBaMMCellSource(world, "pybamm-spm", cache=SimulationCache())


@pytest.fixture(scope="module")
def centre(world: World) -> Design:
    return world.design_space.from_unit_cube(np.full((1, world.design_space.dim), 0.5))[0]


@pytest.fixture(scope="module")
def full_protocol(world: World) -> Protocol:
    return world.protocol.model_copy(update={"n_cycles": CYCLES})


@pytest.fixture(scope="module")
def full_run(source: PyBaMMCellSource, centre: Design, full_protocol: Protocol) -> Result:
    result = source.run(centre, full_protocol, seed=0)
    assert result.status is ResultStatus.SUCCEEDED, result.message
    assert result.cycles_run == CYCLES
    return result


def with_stop(protocol: Protocol, **rule: object) -> Protocol:
    return protocol.model_copy(update={"stop": StopRule(**rule)})


def retention(result: Result) -> list[float]:
    return [o.value for o in result.observations if o.observable == RETENTION]


def assert_first_cycles(stopped: Result, full: Result, cycles: int) -> None:
    """``stopped`` holds exactly the observations of cycles 1..cycles of ``full``, to 1e-9."""
    prefix = [o for o in full.observations if o.index <= cycles]
    assert [(o.observable, o.index, o.unit) for o in stopped.observations] == \
        [(o.observable, o.index, o.unit) for o in prefix]
    np.testing.assert_allclose([o.value for o in stopped.observations], [o.value for o in prefix],
                               rtol=1e-9, atol=0)
    assert {o.index for o in stopped.observations} == set(map(float, range(1, cycles + 1)))


def test_a_stop_at_cycle_3_keeps_exactly_the_first_3_cycles(
        source: PyBaMMCellSource, centre: Design, full_protocol: Protocol, full_run: Result) -> None:
    protocol = with_stop(full_protocol, at_cycle=3)
    stopped = source.run(centre, protocol, seed=0)
    assert stopped.status is ResultStatus.STOPPED
    assert stopped.failure_kind is None
    assert stopped.cycles_run == 3
    assert stopped.message == "stopped after cycle 3 as the protocol asked (stop at cycle 3)"
    assert stopped.protocol == protocol
    assert len(stopped.observations) == 3 * len(source.spec.observables)
    assert_first_cycles(stopped, full_run, 3)
    assert retention(stopped)[1] == 1.0  # still relative to cycle 2, as in the full run
    assert stopped.metadata["reference_cycle"] == 2
    assert stopped.cost.cpu_seconds > 0


def test_a_retention_condition_stops_at_the_reference_cycle(
        source: PyBaMMCellSource, centre: Design, full_protocol: Protocol, full_run: Result) -> None:
    # Cycle 1 starts from the set's initial state and delivers more than cycle 2, the
    # reference; so "below 1.0001" first holds in cycle 2, where retention is 1 exactly.
    full = retention(full_run)
    assert full[0] > 1.0001 and full[1] == 1.0
    stopped = source.run(centre, with_stop(full_protocol, observable=RETENTION, below=1.0001), seed=0)
    assert stopped.status is ResultStatus.STOPPED
    assert stopped.cycles_run == 2
    assert stopped.message.startswith("Capacity retention crossed its threshold in cycle 2")
    assert_first_cycles(stopped, full_run, 2)


def test_a_retention_condition_stops_at_the_first_cycle_below_it(
        source: PyBaMMCellSource, centre: Design, full_protocol: Protocol, full_run: Result) -> None:
    full = retention(full_run)
    assert full[2] > full[3]  # the cell fades from cycle 2 on
    threshold = 0.5 * (full[2] + full[3])  # crossed first in cycle 4
    stopped = source.run(centre, with_stop(full_protocol, observable=RETENTION, below=threshold), seed=0)
    assert stopped.status is ResultStatus.STOPPED
    assert stopped.cycles_run == 4
    assert "cycle 4" in stopped.message
    assert_first_cycles(stopped, full_run, 4)
    both = with_stop(full_protocol, observable=RETENTION, below=threshold, at_cycle=3)
    earlier = source.run(centre, both, seed=0)
    assert (earlier.status, earlier.cycles_run) == (ResultStatus.STOPPED, 3)
    assert "as the protocol asked" in earlier.message
    assert_first_cycles(earlier, full_run, 3)


@pytest.mark.parametrize(
    "rule",
    [
        {"at_cycle": CYCLES},
        {"at_cycle": 50},
        {"observable": RETENTION, "below": 0.5},
        # SPM has no plating: a condition on it never fires.
        {"observable": "Lithium plating thickness [m]", "above": 0.0},
    ],
)
def test_a_rule_that_does_not_fire_before_the_end_leaves_the_run_whole(
        source: PyBaMMCellSource, centre: Design, full_protocol: Protocol, full_run: Result,
        rule: dict[str, object]) -> None:
    result = source.run(centre, with_stop(full_protocol, **rule), seed=0)
    assert result.status is ResultStatus.SUCCEEDED
    assert result.cycles_run == CYCLES
    assert result.message == ""
    assert_first_cycles(result, full_run, CYCLES)


def test_a_stopped_result_is_stored_as_stopped(store: Store, source: PyBaMMCellSource, centre: Design,
                                               full_protocol: Protocol) -> None:
    stopped = source.run(centre, with_stop(full_protocol, at_cycle=2), seed=0)
    store.register_source(source.spec)
    stored = store.submit_result(stopped, idempotency_key="pybamm-spm:stopped")
    again = store.get_result(stored.id).result
    assert again.status is ResultStatus.STOPPED
    assert again.cycles_run == 2
    assert again.protocol is not None and again.protocol.stop == StopRule(at_cycle=2)
    assert again.observations == stopped.observations


def test_a_run_stopped_after_cycle_1_reports_the_same_whatever_stopped_it(
        source: PyBaMMCellSource, centre: Design, full_protocol: Protocol) -> None:
    by_condition = source.run(
        centre, with_stop(full_protocol, observable="Discharge capacity [A.h]", above=0.0), seed=0)
    by_cycle = source.run(centre, with_stop(full_protocol, at_cycle=1), seed=0)
    assert by_cycle.cycles_run == by_condition.cycles_run == 1
    assert retention(by_cycle) == []
    assert [(o.observable, o.index) for o in by_condition.observations] == \
        [(o.observable, o.index) for o in by_cycle.observations]
