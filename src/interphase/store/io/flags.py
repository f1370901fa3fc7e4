"""Flags on implausible per-cycle capacities: kept with the record, never dropped.

Two rules, each a flag and not a correction (the data is stored as read):

- *over nominal*: a cycle that moved more than the nominal capacity, with a margin,
  because real cells often deliver a few percent over their rating;
- *jump*: a cycle far off the median of its neighbours (up to three on each side),
  which catches a counter glitch or a broken integration without knowing the cell.
  The band is wide enough that capacity checks at a slow rate, legitimately a few
  percent higher than the cycles around them, are not flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NOMINAL_MARGIN = 0.10
"""A cycle is over nominal when its capacity exceeds ``nominal x (1 + NOMINAL_MARGIN)``."""

JUMP_FACTOR = 1.5
"""A cycle jumps when its capacity is over ``JUMP_FACTOR`` times, or under
``1 / JUMP_FACTOR`` times, the median of its neighbours."""

JUMP_NEIGHBOURS = 3
"""Neighbours on each side that the median is taken over."""

_MIN_NEIGHBOURS = 2  # fewer neighbours than this and a median says nothing


@dataclass(frozen=True)
class CycleFlag:
    """One flagged value.

    Attributes:
        cycle: Index of the cycle in the record (0 = the file's first cycle).
        file_cycle: The cycle's number in the file itself.
        observable: The flagged observable, e.g. ``"Discharge capacity [A.h]"``.
        value: Its value in the observable's unit.
        reason: Why it is flagged, in words, with the numbers compared.

    """

    cycle: int
    file_cycle: int
    observable: str
    value: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The flag as stored in the result's metadata."""
        return {"cycle": self.cycle, "file_cycle": self.file_cycle,
                "observable": self.observable, "value": self.value, "reason": self.reason}


def flag_cycles(capacities_ah: Mapping[str, pd.Series], nominal_capacity_ah: float | None,
                first_file_cycle: int = 0) -> tuple[CycleFlag, ...]:
    """Flag cycles whose capacity exceeds the nominal one or jumps against its neighbours.

    Args:
        capacities_ah: Observable name to per-cycle capacity [A.h], indexed by cycle
            number in order; NaN values are skipped.
        nominal_capacity_ah: The cell's nominal capacity [A.h], or None to check jumps only.
        first_file_cycle: The file's own number of cycle 0, to name cycles as the file does.

    Returns:
        The flags, by observable then cycle.

    """
    flags: list[CycleFlag] = []
    for observable, series in capacities_ah.items():
        cycles = series.index.to_numpy()
        values = series.to_numpy(dtype=np.float64)
        for position, (cycle, value) in enumerate(zip(cycles, values, strict=True)):
            if not math.isfinite(value):
                continue
            reasons = []
            if nominal_capacity_ah is not None and value > nominal_capacity_ah * (1 + NOMINAL_MARGIN):
                reasons.append(f"{value:.4g} A.h exceeds the nominal {nominal_capacity_ah:.4g} A.h "
                               f"by {value / nominal_capacity_ah - 1:.0%}")
            reason = _jump_reason(values, position)
            if reason:
                reasons.append(reason)
            if reasons:
                flags.append(CycleFlag(cycle=int(cycle), file_cycle=int(cycle) + first_file_cycle,
                                       observable=observable, value=float(value),
                                       reason="; ".join(reasons)))
    return tuple(flags)


def _jump_reason(values: np.ndarray, position: int) -> str:
    lo, hi = max(0, position - JUMP_NEIGHBOURS), position + JUMP_NEIGHBOURS + 1
    neighbours = np.concatenate((values[lo:position], values[position + 1:hi]))
    neighbours = neighbours[np.isfinite(neighbours) & (neighbours > 0)]
    if neighbours.size < _MIN_NEIGHBOURS:
        return ""
    median = float(np.median(neighbours))
    ratio = values[position] / median
    if ratio > JUMP_FACTOR:
        return f"{ratio:.3g} times the median of its neighbours ({median:.4g} A.h)"
    if ratio < 1 / JUMP_FACTOR:
        return f"only {ratio:.3g} of the median of its neighbours ({median:.4g} A.h)"
    return ""
