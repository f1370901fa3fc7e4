"""A run in flight: what a strategy may see of it, and when its plan ends."""

from __future__ import annotations

import math

from interphase.agent.flight import Flight
from interphase.schema import Cost, FailureKind, ResultStatus
from support import factories


def _flight(result_cycles: int, planned_cycles: int = 100, **result_fields: object) -> Flight:
    """A test of ``planned_cycles`` whose held-back result ran ``result_cycles`` (24 h setup, 2 h a cycle)."""
    result = factories.result(n_observations=result_cycles, cycles_run=result_cycles,
                              cost=Cost(lab_hours=24.0 + 2.0 * result_cycles),
                              metadata={"cycle_hours": 2.0 * result_cycles}, **result_fields)
    return Flight(request_id="r", key="k", design_id="d", design=result.design, source="lab-cell",
                  resource="lab", protocol=factories.protocol(n_cycles=planned_cycles), seed=0,
                  started_h=10.0, result=result)


def test_a_cell_that_dies_early_shows_its_plans_end_not_its_death() -> None:
    flight = _flight(40, status=ResultStatus.FAILED, failure_kind=FailureKind.DETERMINISTIC)
    assert flight.end_h == 10.0 + 24.0 + 80.0  # the clock ends it when the cell dies
    seen = flight.view(clock_h=50.0)
    assert seen.expected_end_h == 10.0 + 24.0 + 2.0 * 100  # no lab knows when a cell will die
    assert seen.cycles_done == 8


def test_a_full_test_ends_when_its_plan_does_and_an_uncomputed_one_never() -> None:
    assert _flight(100).view(clock_h=0.0).expected_end_h == _flight(100).end_h == 234.0
    pending = _flight(100)
    pending.result = None
    assert math.isinf(pending.view(clock_h=0.0).expected_end_h)
