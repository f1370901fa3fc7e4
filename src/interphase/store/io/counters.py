"""Per-cycle capacity and energy from the cycler's own counters.

Cyclers measure charge and energy at their own sampling rate (often milliseconds) and
log the running totals as counters, e.g. Arbin's ``Discharge_Capacity(Ah)``. Those are
the numbers to report: integrating the logged current instead is only as good as the
logging interval, and a 600 s interval over 10 s pulses is off by whole capacities.

Counters come in two conventions, told apart per column from the data:

- *reset each cycle*: the counter drops back at (nearly) every cycle start. A cycle's
  value is then what the counter reached within it, counted from zero.
- *cumulative over the test*: it only grows. A cycle's value is the increment since the
  previous cycle's last row. Not max minus min within the cycle: with coarse rows the
  cycle's first row is already well into the cycle.

Either way, a drop anywhere else (a step reset, as BioLogic's half-cycle counters and
Maccor's step counters do, or a restarted test) restarts the count from the new value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ("capacity_charge", "capacity_discharge", "energy_charge", "energy_discharge")
"""battdat's ``cycle_stats`` columns that counters can supply, in A.h and W.h."""

RESET_EACH_CYCLE = "reset each cycle"
CUMULATIVE = "cumulative over the test"
UNDETERMINED = "convention undetermined; counted from the file's first row"
_RELATIVE_TOLERANCE = 1e-6  # drops smaller than this (print rounding) are not resets


@dataclass(frozen=True, eq=False)
class CounterColumn:
    """One counter of a file, row by row.

    Attributes:
        summary_column: The ``cycle_stats`` column it supplies, one of :data:`SUMMARY_COLUMNS`.
        file_column: Its name in the file, for the record's metadata.
        values: Shape ``(n_rows,)``: the counter in A.h (capacities) or W.h (energies),
            finite and non-negative.
        cycles: Shape ``(n_rows,)``: battdat cycle number of each row, non-decreasing.
        counts: Shape ``(n_rows,)`` booleans, or None for all rows: rows whose increment
            belongs to this column (Maccor's one counter is charge or discharge by state).

    """

    summary_column: str
    file_column: str
    values: np.ndarray
    cycles: np.ndarray
    counts: np.ndarray | None = None


def row_increments(values: np.ndarray, cycles: np.ndarray) -> tuple[np.ndarray, str]:
    """What each row added to a counter, and the counter's convention.

    Args:
        values: Shape ``(n_rows,)``, the counter.
        cycles: Shape ``(n_rows,)``, the cycle number of each row.

    Returns:
        Increments of shape ``(n_rows,)``, non-negative, and the convention found
        (:data:`RESET_EACH_CYCLE`, :data:`CUMULATIVE` or :data:`UNDETERMINED`).

    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.copy(), UNDETERMINED
    tolerance = _RELATIVE_TOLERANCE * max(float(np.max(np.abs(values))), 1e-12)
    diffs = np.diff(values)
    drops = diffs < -tolerance
    boundaries = np.diff(np.asarray(cycles)) != 0
    # A boundary after a cycle that never moved the counter says nothing about resets.
    telling = boundaries & (values[:-1] > tolerance)
    if not telling.any():
        convention = UNDETERMINED
    elif drops[telling].mean() >= 0.5:
        convention = RESET_EACH_CYCLE
    else:
        convention = CUMULATIVE
    increments = np.where(drops, values[1:], diffs)
    if convention == RESET_EACH_CYCLE:
        increments = np.where(boundaries, values[1:], increments)
    first = values[0] if convention == RESET_EACH_CYCLE else 0.0
    return np.clip(np.concatenate(([first], increments)), 0.0, None), convention


def per_cycle(counter: CounterColumn) -> tuple[pd.Series, str]:
    """Sum a counter's increments per cycle.

    Args:
        counter: The counter.

    Returns:
        Values indexed by cycle number (every cycle of ``counter.cycles``), and the
        convention found.

    """
    increments, convention = row_increments(counter.values, counter.cycles)
    if counter.counts is not None:
        increments = np.where(counter.counts, increments, 0.0)
    sums = pd.Series(increments).groupby(np.asarray(counter.cycles)).sum()
    return sums, convention


def apply_counters(summary: pd.DataFrame, counters: Sequence[CounterColumn]
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Replace integrated per-cycle values by the cycler's counters where it has them.

    Args:
        summary: battdat ``cycle_stats`` with ``cycle_number`` and any of
            :data:`SUMMARY_COLUMNS` (missing ones are added as NaN).
        counters: The file's counters; at most one per summary column.

    Returns:
        A copy of ``summary`` with the counted columns replaced, and, for each replaced
        column, how it was obtained (``"cycler column 'X' (cumulative over the test)"``).

    """
    out = summary.copy()
    methods: dict[str, str] = {}
    for counter in counters:
        sums, convention = per_cycle(counter)
        out[counter.summary_column] = out["cycle_number"].map(sums).astype(np.float64)
        methods[counter.summary_column] = f"cycler column {counter.file_column!r} ({convention})"
    return out, methods
