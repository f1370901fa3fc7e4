"""From a parsed time series to per-cycle observations, and how each was obtained.

Capacities and energies come from the cycler's counters when the file has them
(:mod:`interphase.store.io.counters`) and from battdat's ``CapacityPerCycle``, which
integrates the logged current, only when it does not. Durations come from battdat's
``CycleTimesSummarizer``; temperature and internal resistance are per-cycle means of
the logged values.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from interphase.schema import OBSERVABLES, Observation
from interphase.schema.units import convert
from interphase.store.io.counters import SUMMARY_COLUMNS, apply_counters
from interphase.store.io.cycling import ParsedCycling

DISCHARGE_CAPACITY = "Discharge capacity [A.h]"
CHARGE_CAPACITY = "Charge capacity [A.h]"
DISCHARGE_ENERGY = "Discharge energy [W.h]"
CHARGE_ENERGY = "Charge energy [W.h]"
COULOMBIC_EFFICIENCY = "Coulombic efficiency"
MEAN_DISCHARGE_VOLTAGE = "Mean discharge voltage [V]"
MEAN_TEMPERATURE = "Mean temperature [K]"
INTERNAL_RESISTANCE = "Internal resistance [Ohm]"
CYCLE_DURATION = "Cycle duration [s]"

SUMMARY_OBSERVABLES = {"capacity_discharge": DISCHARGE_CAPACITY, "capacity_charge": CHARGE_CAPACITY,
                       "energy_discharge": DISCHARGE_ENERGY, "energy_charge": CHARGE_ENERGY}
INTEGRATED_CAPACITY = "integrated current (battery-data-toolkit CapacityPerCycle)"
INTEGRATED_ENERGY = "integrated current x voltage (battery-data-toolkit CapacityPerCycle)"
DERIVED_SOURCES = {
    COULOMBIC_EFFICIENCY: "discharge capacity / charge capacity of the cycle",
    MEAN_DISCHARGE_VOLTAGE: "discharge energy / discharge capacity of the cycle",
    MEAN_TEMPERATURE: "mean of the logged temperature over the cycle",
    INTERNAL_RESISTANCE: "mean of the logged internal resistance over the cycle",
    CYCLE_DURATION: "battery-data-toolkit CycleTimesSummarizer (start of next cycle - start)",
}


def summarise(dataset: Any, parsed: ParsedCycling) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-cycle capacities, energies and durations, counters first.

    Args:
        dataset: battdat ``BatteryDataset`` over ``parsed.raw``; its ``cycle_stats`` is filled.
        parsed: The parsed file, for its counters.

    Returns:
        ``cycle_stats`` (one row per cycle: ``cycle_number``, ``capacity_*`` [A.h],
        ``energy_*`` [W.h], ``cycle_start`` and ``cycle_duration`` [s]) and, per
        observable name, how its values were obtained.

    """
    from battdat.postprocess.integral import CapacityPerCycle
    from battdat.postprocess.timing import CycleTimesSummarizer

    CycleTimesSummarizer().compute_features(dataset)
    counted = {counter.summary_column for counter in parsed.counters}
    if not counted.issuperset(SUMMARY_COLUMNS):  # its warnings only matter when it is used
        CapacityPerCycle().compute_features(dataset)
    stats = dataset.tables["cycle_stats"]
    for column in SUMMARY_COLUMNS:
        if column not in stats:
            stats[column] = math.nan
    summary, methods = apply_counters(stats, parsed.counters)
    sources = {
        observable: methods.get(column, INTEGRATED_CAPACITY if column.startswith("capacity")
                                else INTEGRATED_ENERGY)
        for column, observable in SUMMARY_OBSERVABLES.items()
    }
    return summary, sources | DERIVED_SOURCES


def cycle_observations(summary: pd.DataFrame, raw: pd.DataFrame) -> tuple[Observation, ...]:
    """Map the per-cycle summary and raw data onto registered observables.

    Args:
        summary: ``cycle_stats`` with ``capacity_*`` [A.h], ``energy_*`` [W.h]
            and ``cycle_duration`` [s].
        raw: battdat ``raw_data``; ``temperature`` [°C] and ``internal_resistance``
            [Ohm] are averaged per cycle when present.

    Returns:
        Observations indexed by cycle; non-finite values are left out, Coulombic
        efficiency only where charge capacity > 0, mean discharge voltage only where
        discharge capacity > 0.

    """
    by_cycle = raw.groupby("cycle_number")
    empty = pd.Series(dtype=float)
    temperature_c = by_cycle["temperature"].mean() if "temperature" in raw else empty
    resistance = by_cycle["internal_resistance"].mean() if "internal_resistance" in raw else empty
    out: list[Observation] = []
    for row in summary.itertuples(index=False):
        cycle = int(row.cycle_number)
        q_dis, q_chg = float(row.capacity_discharge), float(row.capacity_charge)
        e_dis, e_chg = float(row.energy_discharge), float(row.energy_charge)
        t_c = float(temperature_c.get(cycle, math.nan))
        values = {
            DISCHARGE_CAPACITY: q_dis, CHARGE_CAPACITY: q_chg,
            DISCHARGE_ENERGY: e_dis, CHARGE_ENERGY: e_chg,
            COULOMBIC_EFFICIENCY: q_dis / q_chg if q_chg > 0 else math.nan,
            MEAN_DISCHARGE_VOLTAGE: e_dis / q_dis if q_dis > 0 else math.nan,
            MEAN_TEMPERATURE: convert(t_c, "degC", "K") if math.isfinite(t_c) else math.nan,
            INTERNAL_RESISTANCE: float(resistance.get(cycle, math.nan)),
            CYCLE_DURATION: float(row.cycle_duration),
        }
        out.extend(
            Observation(observable=name, index=float(cycle), index_unit="cycle", value=value,
                        unit=OBSERVABLES.get(name).unit)
            for name, value in values.items() if math.isfinite(value)
        )
    return tuple(out)
