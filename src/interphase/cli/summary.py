"""Per-record figures the listings and the demo show: capacities, efficiency, resistance."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

from interphase.schema import Result

DISCHARGE_CAPACITY = "Discharge capacity [A.h]"
COULOMBIC_EFFICIENCY = "Coulombic efficiency"
INTERNAL_RESISTANCE = "Internal resistance [Ohm]"


@dataclass(frozen=True)
class RecordSummary:
    """What one result says at a glance; None where the record has no such observable.

    Attributes:
        cycles: Cycles run (as stored, else the number of distinct cycle indices).
        n_observations: Number of long-form observations.
        first_discharge_capacity_ah: Discharge capacity of the first cycle, A.h.
        last_discharge_capacity_ah: Discharge capacity of the last cycle, A.h.
        mean_coulombic_efficiency: Mean over cycles, dimensionless.
        mean_internal_resistance_ohm: Mean over cycles, ohm.

    """

    cycles: int | None
    n_observations: int
    first_discharge_capacity_ah: float | None
    last_discharge_capacity_ah: float | None
    mean_coulombic_efficiency: float | None
    mean_internal_resistance_ohm: float | None


def summarise(result: Result) -> RecordSummary:
    """Summarise a result's per-cycle observations.

    Args:
        result: A stored or fresh result.

    Returns:
        The summary; observables indexed by something other than cycles are ignored.

    """
    per_cycle: dict[str, list[tuple[float, float]]] = {}
    for observation in result.observations:
        if observation.index_unit == "cycle":
            series = per_cycle.setdefault(observation.observable, [])
            series.append((observation.index, observation.value))
    for series in per_cycle.values():
        series.sort()
    capacity = per_cycle.get(DISCHARGE_CAPACITY, [])
    cycle_indices = {index for series in per_cycle.values() for index, _ in series}
    return RecordSummary(
        cycles=result.cycles_run if result.cycles_run is not None else (len(cycle_indices) or None),
        n_observations=len(result.observations),
        first_discharge_capacity_ah=capacity[0][1] if capacity else None,
        last_discharge_capacity_ah=capacity[-1][1] if capacity else None,
        mean_coulombic_efficiency=_mean(per_cycle.get(COULOMBIC_EFFICIENCY)),
        mean_internal_resistance_ohm=_mean(per_cycle.get(INTERNAL_RESISTANCE)),
    )


def _mean(series: list[tuple[float, float]] | None) -> float | None:
    return fmean(value for _, value in series) if series else None
