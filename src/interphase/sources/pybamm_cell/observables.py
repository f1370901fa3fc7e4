"""Per-cycle observables read from PyBaMM cycle solutions, and their ``Observation`` rows.

What each observable is, per cycle ``k`` (index unit ``"cycle"``, canonical units):

* ``"Discharge capacity [A.h]"``: charge delivered by the cycle's discharge steps, the
  rise of PyBaMM's cumulative ``"Discharge capacity [A.h]"`` over each of them.
* ``"Capacity retention"``: that capacity over the capacity of the reference cycle,
  cycle 2 (cycle 1 starts from the parameter set's initial state, not from the
  protocol's charge); cycle 1 when the protocol has one cycle.
* ``"Loss of lithium inventory [%]"``, ``"Loss of active material in negative electrode
  [%]"``, ``"... positive electrode [%]"``: PyBaMM's variables of those names at the end
  of the cycle (relative to the parameter set's initial state).
* ``"SEI thickness [m]"``: ``"X-averaged negative SEI thickness [m]"`` at the end of the cycle.
* ``"Lithium plating thickness [m]"`` (models with plating): the peak in the cycle of
  ``"X-averaged negative lithium plating thickness [m]"``. Reversible plating is stripped
  again on discharge, so the end-of-cycle value would hide it; the peak comes at the end
  of charge.
* ``"Resistance [Ohm]"``: PyBaMM's ``"Resistance [Ohm]"`` (terminal voltage over current)
  half-way through the longest discharge step.
"""

from __future__ import annotations

from collections.abc import Sequence

from interphase.schema import OBSERVABLES, Observation

CAPACITY = "Discharge capacity [A.h]"
RETENTION = "Capacity retention"
LLI = "Loss of lithium inventory [%]"
LAM_NEGATIVE = "Loss of active material in negative electrode [%]"
LAM_POSITIVE = "Loss of active material in positive electrode [%]"
SEI_THICKNESS = "SEI thickness [m]"
PLATING_THICKNESS = "Lithium plating thickness [m]"
RESISTANCE = "Resistance [Ohm]"
CYCLE_DURATION = "Cycle duration [s]"

CAPACITY_VARIABLE = "Discharge capacity [A.h]"
RESISTANCE_VARIABLE = "Resistance [Ohm]"
PLATING_VARIABLE = "X-averaged negative lithium plating thickness [m]"
END_OF_CYCLE_VARIABLES = {
    LLI: "Loss of lithium inventory [%]",
    LAM_NEGATIVE: "Loss of active material in negative electrode [%]",
    LAM_POSITIVE: "Loss of active material in positive electrode [%]",
    SEI_THICKNESS: "X-averaged negative SEI thickness [m]",
}
REFERENCE_CYCLE = 2


def declared_observables(has_plating: bool) -> tuple[str, ...]:
    """The observables a source with or without plating produces, in output order."""
    names = [CAPACITY, RETENTION, LLI, LAM_NEGATIVE, LAM_POSITIVE, SEI_THICKNESS]
    if has_plating:
        names.append(PLATING_THICKNESS)
    names.append(RESISTANCE)
    return tuple(names)


def solver_output_variables(has_plating: bool) -> list[str]:
    """The PyBaMM variables the solver must keep; the rest of the state is dropped."""
    names = [CAPACITY_VARIABLE, RESISTANCE_VARIABLE, *END_OF_CYCLE_VARIABLES.values()]
    if has_plating:
        names.append(PLATING_VARIABLE)
    return names


def reference_cycle(n_cycles: int) -> int:
    """The cycle retention is relative to: 2, or 1 for a one-cycle protocol."""
    return REFERENCE_CYCLE if n_cycles >= REFERENCE_CYCLE else 1


def observations(rows: Sequence[dict[str, float]], n_cycles: int,
                 order: Sequence[str]) -> tuple[Observation, ...]:
    """Long-form observations of the cycles that completed.

    Args:
        rows: Values of cycles 1, 2, ... as :func:`cycle_values` returns them.
        n_cycles: Cycles the protocol asked for (fixes the reference cycle).
        order: Observable names in output order (:func:`declared_observables`).

    Returns:
        One observation per observable and cycle, grouped by observable. Retention is
        left out until the reference cycle has run, and when its capacity is zero.
    """
    reference = reference_cycle(n_cycles)
    reference_capacity = rows[reference - 1][CAPACITY] if len(rows) >= reference else 0.0
    out: list[Observation] = []
    for name in order:
        unit = OBSERVABLES.get(name).unit
        for cycle, row in enumerate(rows, start=1):
            if name == RETENTION:
                if reference_capacity <= 0.0:
                    break
                value = row[CAPACITY] / reference_capacity
            elif name in row:
                value = row[name]
            else:
                continue
            out.append(Observation(observable=name, index=float(cycle), index_unit="cycle",
                                   value=value, unit=unit))
    return tuple(out)

