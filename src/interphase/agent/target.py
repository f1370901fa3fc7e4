"""Whether a run meets a campaign's (possibly partial) target, and when a design counts as verified.

A run meets the target when it succeeded over the whole horizon, every bound holds at its
index (the last cycle when the bound names none), and its design satisfies the target's fixed
values and design bounds. A design is *verified* once ``replicates`` full-length runs of it on
the highest-fidelity source all met the target: the first hit and its replicates, each a new
cell. Every strategy of a benchmark is held to the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from interphase.schema import Design, Observation, Result, ResultStatus, TargetSpec


class TargetCheck:
    """Evaluates a target on results and designs.

    Args:
        target: The target.
        horizon: The protocol's ``n_cycles``; bounds without an index apply there.
        replicates: Full-length runs that must all meet the target to verify a design.
    """

    def __init__(self, target: TargetSpec, horizon: int, replicates: int = 2) -> None:
        self.target = target
        self.horizon = horizon
        self.replicates = replicates

    def in_region(self, design: Design) -> bool:
        """Whether the design satisfies the target's design bounds and fixed values."""
        for name, (low, high) in self.target.design_bounds.items():
            value = design.values.get(name)
            if not isinstance(value, int | float) or not low - 1e-12 <= value <= high + 1e-12:
                return False
        for name, wanted in self.target.fixed.items():
            if design.values.get(name) != wanted:
                return False
        return True

    def value_at(self, observations: Sequence[Observation], observable: str,
                 index: float | None) -> float | None:
        """The observed value of ``observable`` at ``index`` (the horizon when None), or None."""
        at = float(self.horizon if index is None else index)
        values = [o.value for o in observations if o.observable == observable and math.isclose(o.index, at)]
        return values[-1] if values else None

    def meets(self, result: Result) -> bool:
        """Whether a run meets the target (full length, succeeded, every bound, in the region)."""
        if result.status is not ResultStatus.SUCCEEDED or not self.in_region(result.design):
            return False
        if self.horizon > 1 and (result.cycles_run or 0) < self.horizon:  # a cycled test ran to the end
            return False
        for bound in self.target.bounds:
            value = self.value_at(result.observations, bound.observable, bound.at_index)
            if value is None:
                return False
            if bound.lower is not None and value < bound.lower:
                return False
            if bound.upper is not None and value > bound.upper:
                return False
        return True

    def objective(self, result: Result) -> float | None:
        """The first objective's observed value (None without one, or when not observed)."""
        if not self.target.objectives:
            return None
        objective = self.target.objectives[0]
        return self.value_at(result.observations, objective.observable, objective.at_index)

    def score(self, result: Result) -> float | None:
        """The first objective as a quantity to maximise (negated when it is minimised)."""
        value = self.objective(result)
        if value is None:
            return None
        return -value if self.target.objectives[0].direction == "minimize" else value
