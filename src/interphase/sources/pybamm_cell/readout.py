"""Read one cycle's observables from PyBaMM step solutions (definitions in :mod:`.observables`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pybamm

from interphase.sources.pybamm_cell.observables import (
    CAPACITY,
    CAPACITY_VARIABLE,
    CYCLE_DURATION,
    END_OF_CYCLE_VARIABLES,
    PLATING_THICKNESS,
    PLATING_VARIABLE,
    RESISTANCE,
    RESISTANCE_VARIABLE,
)


class NonFiniteValueError(ArithmeticError):
    """The solver returned NaN or infinity for an observable."""


def solved(step: pybamm.Solution) -> bool:
    """Whether a step solution holds data (PyBaMM skips steps infeasible at their start)."""
    return not isinstance(step, pybamm.EmptySolution)


def cycle_values(steps: Sequence[pybamm.Solution], discharge_steps: Sequence[int],
                 has_plating: bool, extra_variables: Sequence[str] = ()) -> dict[str, float]:
    """Read one cycle's observables, all but retention.

    Args:
        steps: The cycle's step solutions, one per protocol step; a skipped step is a
            ``pybamm.EmptySolution``. At least one holds data.
        discharge_steps: Indices of the discharge steps in ``steps``.
        has_plating: Whether the model has lithium plating.
        extra_variables: PyBaMM variables to read at the end of the cycle, under their own names.

    Returns:
        Observable name → value in its canonical unit, and ``"Cycle duration [s]"`` (the
        time the cycle's steps took). Resistance is absent when no discharge step ran.

    Raises:
        NonFiniteValueError: If a value is NaN or infinite.
    """
    with_data = [step for step in steps if solved(step)]
    values: dict[str, float] = {CAPACITY: 0.0}
    longest, longest_charge = None, 0.0
    for index in discharge_steps:
        step = steps[index]
        if not solved(step):
            continue
        capacity = step[CAPACITY_VARIABLE].entries
        charge = float(capacity[-1] - capacity[0])
        values[CAPACITY] += charge
        if longest is None or charge > longest_charge:
            longest, longest_charge = step, charge
    if longest is not None:
        midpoint = 0.5 * (float(longest.t[0]) + float(longest.t[-1]))
        values[RESISTANCE] = float(np.ravel(longest[RESISTANCE_VARIABLE](t=midpoint))[0])
    end = with_data[-1]
    for observable, variable in END_OF_CYCLE_VARIABLES.items():
        values[observable] = float(end[variable].entries[-1])
    for variable in extra_variables:
        values[variable] = float(end[variable].entries[-1])
    values[CYCLE_DURATION] = sum(float(step.t[-1] - step.t[0]) for step in with_data)
    if has_plating:
        values[PLATING_THICKNESS] = max(float(np.max(step[PLATING_VARIABLE].entries)) for step in with_data)
    for observable, value in values.items():
        if not math.isfinite(value):
            raise NonFiniteValueError(f"{observable} is {value}")
    return values
