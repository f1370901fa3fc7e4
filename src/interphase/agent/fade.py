"""Where a running test's own fade is heading, calibrated on trajectories that ran the whole horizon.

A lab test that has run ``c`` cycles says much about its last cycle by itself:
:func:`~interphase.agent.track_record.horizon_estimate` carries its fade on to the horizon. That
estimate leans high (a fade that slows more than a power law), and by how much depends on how far
it carried the value. :class:`FadeCalibration` measures this on the campaign's own full-length
trajectories (the reference simulator's runs and the lab's full tests): for each it cuts the
trajectory at ``c`` cycles and records the estimate's error relative to the distance it carried
the value, ``r = (estimate - final) / (at_cut - estimate)``. A running test's final value is then
``estimate - r * (at_cut - estimate)`` over those ratios, plus a cell's own scatter.

On ``sei-life`` the ratios of 55 SPMe runs (median +0.29 at cycle 40, 10th-90th percentile -0.03
to +0.62) match those of 843 full-length lab tests (+0.30, -0.08 to +0.71), and the probabilities
they give the lab tests are calibrated from cycle 40 (``benchmarks/stop_extrapolation.py``): tests
given 0.8-1.0 met the bound in 81 % at cycle 40, 88 % at cycle 60.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from interphase.agent.track_record import horizon_estimate

# The least distance an estimate carries the value that a ratio is taken against (the observable's
# units; a flat trajectory would otherwise give an error over nothing).
_LEAST_MOVE = 1e-3


@dataclass
class FadeCalibration:
    """The errors of :func:`horizon_estimate` on full-length trajectories, by the cycle of the cut.

    Attributes:
        trajectories: ``(cycles, values)`` of each full-length trajectory, ``n_i`` each, cycles
            increasing.
        horizon: The cycle the estimates are for.
        scatter_std: A cell's own scatter about where its fade is heading (the observable's units).
        min_trajectories: Fewer usable trajectories at a cut give no calibration there.
    """

    trajectories: Sequence[tuple[np.ndarray, np.ndarray]]
    horizon: int
    scatter_std: float
    min_trajectories: int = 8
    _ratios: dict[int, np.ndarray | None] = field(default_factory=dict, repr=False)

    def ratios(self, cut: int) -> np.ndarray | None:
        """``m`` relative errors ``(estimate - final) / (at_cut - estimate)`` at cycle ``cut``, or None."""
        if cut not in self._ratios:
            errors = []
            for cycles, values in self.trajectories:
                early = cycles <= cut
                estimate = horizon_estimate(cycles[early], values[early], float(self.horizon))
                if estimate is None or not early.any() or cycles[early][-1] >= self.horizon:
                    continue
                moved = _moved(float(values[early][-3:].mean()), estimate)
                errors.append((estimate - float(values[-3:].mean())) / moved)
            self._ratios[cut] = np.asarray(errors) if len(errors) >= self.min_trajectories else None
        return self._ratios[cut]

    def finals(self, cycles: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        """``m`` values a test cut at its last cycle may end at, one per calibration trajectory, or None.

        Args:
            cycles: ``n`` cycle numbers of the test so far, increasing.
            values: ``n`` its observable at those cycles.

        Returns:
            None where the estimate or the calibration at this cut is missing.
        """
        cycles, values = np.asarray(cycles, dtype=float), np.asarray(values, dtype=float)
        estimate = horizon_estimate(cycles, values, float(self.horizon))
        ratios = self.ratios(int(cycles[-1])) if len(cycles) else None
        if estimate is None or ratios is None:
            return None
        return estimate - ratios * _moved(float(values[-3:].mean()), estimate)

    def final(self, cycles: np.ndarray, values: np.ndarray) -> tuple[float, float] | None:
        """The median of :meth:`finals` and their spread, or None.

        The spread is the 10th-90th percentile width over 2.56, at least :attr:`scatter_std`.
        """
        finals = self.finals(cycles, values)
        if finals is None:
            return None
        spread = float(np.percentile(finals, 90) - np.percentile(finals, 10)) / 2.56
        return float(np.median(finals)), max(spread, self.scatter_std)

    def probability(self, cycles: np.ndarray, values: np.ndarray,
                    meets: Callable[[np.ndarray, float], np.ndarray]) -> float | None:
        """The probability that the test ends within the target: the mean over :meth:`finals`.

        Args:
            cycles: ``n`` cycle numbers of the test so far.
            values: ``n`` its observable.
            meets: ``(m finals, std) -> m`` probabilities that a value drawn about each final with
                that std meets the target.
        """
        finals = self.finals(cycles, values)
        return None if finals is None else float(np.mean(meets(finals, self.scatter_std)))


def _moved(at_cut: float, estimate: float) -> float:
    """How far the estimate carried the value, kept off zero (its sign kept)."""
    moved = at_cut - estimate
    return moved if abs(moved) >= _LEAST_MOVE else (_LEAST_MOVE if moved >= 0 else -_LEAST_MOVE)
