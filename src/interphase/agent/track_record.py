"""The agent's track record at the highest fidelity: how its forecasts came out, and where tests failed.

The designs an agent launches are those its model rates highest, so the model's errors there are
not the errors of a random design: they lean optimistic, and they cluster. A region where three
tests came in below their forecasts will disappoint a fourth. This module keeps what the tests
showed next to where they ran, in the target region's unit cube, and smooths it over designs
with a Gaussian kernel:

- *misses*: observed less forecast objective, for tests that ran to the horizon and for tests
  that were stopped (for those, the value the test's own fade reaches at the horizon,
  :func:`horizon_estimate`: the value at the stop is no estimate of the last cycle's, and a cold
  cell stopped at 0.939 after 33 cycles, against a forecast of 0.968, had missed by far more than
  0.03);
- *failures*: tests that failed for a cause of the design (a short circuit, not an assembly
  defect), against the share of the horizon each test survived.

Both are shrunk towards the campaign's pooled figures, so that a single test moves a prediction
half-way at most. Once there are a few misses, a regression of them on the design and on the
forecast they are against (a GP with a length scale per input, :attr:`Misses.model`) replaces
the isotropic kernel for the misses: in eight variables only one or two may carry the
discrepancy (temperature, say), and a kernel that weighs every variable alike sees a cold design
with another additive as unrelated to the cold designs that came in low. The forecast is an
input because misses depend on it: the agent launches designs whose forecast is uncertain, and
a pick forecast at 0.87 that came in at 0.935 says the model is too pessimistic where it
forecasts 0.87, not that a design it forecasts at 0.94 will keep 0.98 (``sei-life`` seed 2 at
``af3b392`` launched three such designs at P(meet) 0.58-0.74; the first came in at 0.937).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def horizon_estimate(indices: np.ndarray, values: np.ndarray, horizon: float,
                     exponent_range: tuple[float, float] = (0.2, 1.0)) -> float | None:
    """The value a stopped test's observable would reach at ``horizon``, from its own cycles.

    Its change from the first cycle, ``values[0] - values``, is fitted as ``b n^a`` (least squares
    in log-log over cycles 5 on, ``a`` clipped to ``exponent_range``: diffusion-limited SEI growth
    gives 0.5, plating and loss of active material up to 1, a break-in that levels off less), and
    the last three cycles' mean is carried on to ``horizon`` with that exponent. On the 843 lab
    tests of ``sei-life`` that ran 200 cycles in the discovery baselines' store
    (``benchmarks/stop_extrapolation.py``), the estimate from cycle 20 was at or above the final
    value in 83 % of them (median +0.022, 10th to 90th percentile -0.011 to +0.050), from cycle
    40 in 85 % (median +0.014): a mild upper bound. The value at the stop was above it by a
    median 0.088 from cycle 20 and 0.070 from cycle 40.

    Args:
        indices: ``n`` cycle numbers, increasing.
        values: ``n`` the observable at those cycles.
        horizon: The cycle to estimate the value at.
        exponent_range: The least and greatest exponent ``a``.

    Returns:
        The estimate, or None with fewer than five cycles from cycle 5 on (nothing to fit). A test
        already at or past ``horizon`` gives its last three cycles' mean.
    """
    indices, values = np.asarray(indices, dtype=float), np.asarray(values, dtype=float)
    if len(values) < 3:
        return None
    recent, last = float(values[-3:].mean()), float(indices[-1])
    if last >= horizon:
        return recent
    fitted = indices >= 5
    if fitted.sum() < 5:
        return None
    change = values[0] - values[fitted]
    sign = 1.0 if float(values[0] - recent) >= 0 else -1.0  # a rising observable fits the same way
    slope = np.polyfit(np.log(indices[fitted]), np.log(np.maximum(sign * change, 1e-4)), 1)[0]
    exponent = float(np.clip(slope, *exponent_range))
    return float(values[0] - (values[0] - recent) * (horizon / last) ** exponent)


def estimate_std(at_stop: float, estimate: float, floor_std: float) -> float:
    """The doubt of a :func:`horizon_estimate`: a quarter of the distance it carried the value.

    On the 843 full-length lab tests of ``benchmarks/stop_extrapolation.py`` the estimate from
    cycle 20, 40 and 80 scattered about the final value with stds of about 0.024, 0.014 and 0.009
    (a 10th-90th percentile width over 2.56), where the estimates moved the value at the stop by a
    median 0.088, 0.070 and 0.046: a quarter of that, 0.022, 0.018 and 0.012.
    """
    return max(floor_std, 0.25 * abs(at_stop - estimate))


def pooled_std(groups: list[list[float]]) -> float | None:
    """The pooled within-group std of ``groups`` (each the outcomes of the cells of one design).

    Groups of one value carry no scatter and count for nothing; None when no group has two.
    """
    squares = sum(float(((np.asarray(g) - np.mean(g)) ** 2).sum()) for g in groups if len(g) > 1)
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    return math.sqrt(squares / dof) if dof else None


@dataclass(frozen=True)
class Misses:
    """Forecast misses of the objective at the tests' designs.

    Attributes:
        points: ``n x d`` region coordinates of the tests.
        misses: ``n`` observed less forecast, in the objective's units.
        forecast_std: ``n`` the forecasts' own stds.
        radius: Kernel width in region coordinates.
        floor_std: The least extra spread (the objective's units).
        prior_std: The extra spread before three misses are known.
        model: ``n x (d + 1) -> n`` expected miss at region points with the forecast's
            :meth:`level` appended, fitted to these misses (None: the kernel smoother of
            :meth:`local_bias`).
        model_std: ``n x (d + 1) -> n`` the std of that expectation (the regression's posterior
            std, not its noise): small next to the tests, the misses' prior spread far from
            them. None: :attr:`extra_std` everywhere.
        forecasts: ``n`` the forecasts the misses are against (the objective's units; None: 0).
        level_centre: The forecast that :meth:`level` maps to 0.5 (the target's bound, say).
        level_scale: The forecast's change that :meth:`level` maps to 0.25.
        noise_std: ``n`` how far each observed value may be from its design's (a stopped
            test's estimate carries its extrapolation's doubt; None: the regression fits one noise).
    """

    points: np.ndarray
    misses: np.ndarray
    forecast_std: np.ndarray
    radius: float
    floor_std: float
    prior_std: float
    model: Callable[[Tensor], Tensor] | None = None
    model_std: Callable[[Tensor], Tensor] | None = None
    forecasts: np.ndarray | None = None
    level_centre: float = 0.0
    level_scale: float = 1.0
    noise_std: np.ndarray | None = None

    def level(self, forecast: Tensor | np.ndarray) -> Tensor:
        """Forecasts (the objective's units) as the miss model's last input: about [0, 1] for +-2 scales."""
        forecast = torch.as_tensor(forecast, dtype=torch.float64)
        return 0.5 + (forecast - self.level_centre) / (4.0 * self.level_scale)

    def inputs(self, z: Tensor | np.ndarray, forecast: Tensor | np.ndarray | None) -> Tensor:
        """The miss model's inputs ``... x (d + 1)``: region points ``z`` and the forecasts there (``...``).

        Raises:
            ValueError: If ``forecast`` is None (the model needs the forecast a miss is against).
        """
        if forecast is None:
            raise ValueError("forecast: the miss model needs the forecast at each point")
        z = torch.as_tensor(z, dtype=torch.float64)
        level = self.level(forecast).to(z.device).expand(z.shape[:-1])
        return torch.cat([z, level.unsqueeze(-1)], dim=-1)

    @property
    def bias(self) -> float:
        """The mean miss, shrunk towards 0 as if two more tests had missed by nothing."""
        n = len(self.misses)
        return float(self.misses.mean()) * n / (n + 2.0) if n else 0.0

    @property
    def extra_std(self) -> float:
        """The spread of the misses the forecasts' own stds do not explain (``prior_std`` before 3)."""
        if len(self.misses) < 3:
            return self.prior_std
        unexplained = float(np.mean((self.misses - self.bias) ** 2) - np.mean(self.forecast_std ** 2))
        return math.sqrt(max(unexplained, self.floor_std ** 2))

    def local_bias(self, z: Tensor, forecast: Tensor | None = None) -> Tensor:
        """Miss expected at region points ``z`` (``... x d``), forecast at ``forecast`` (``...``): ``...``.

        The :attr:`model`'s where there is one (it needs ``forecast``); else
        ``bias + sum w (miss - bias) / (sum w + 1)`` with Gaussian weights ``w`` of width
        ``radius`` (nothing nearby gives the pooled ``bias``).
        """
        if self.model is not None:
            flat = self.inputs(z, forecast).reshape(-1, z.shape[-1] + 1)
            return self.model(flat).to(z.dtype).reshape(z.shape[:-1])
        bias = self.bias
        if len(self.misses) == 0:
            return torch.full(z.shape[:-1], bias, dtype=z.dtype)
        weights = _weights(z, self.points, self.radius)
        residual = torch.as_tensor(self.misses - bias, dtype=z.dtype)
        return bias + (weights @ residual) / (weights.sum(dim=-1) + 1.0)

    def local_std(self, z: Tensor, forecast: Tensor | None = None) -> Tensor:
        """How uncertain the miss at region points ``z`` (``... x d``) is: ``...``, at least ``floor_std``.

        The :attr:`model_std` where there is one: a design far from every test the agent ran
        may be off by as much as the misses spread, one next to them by little (this is what
        sends the agent to regions its model rates well but no test has tried). Else the
        pooled :attr:`extra_std`.
        """
        if self.model_std is None:
            return torch.full(z.shape[:-1], self.extra_std, dtype=z.dtype)
        flat = self.inputs(z, forecast).reshape(-1, z.shape[-1] + 1)
        return self.model_std(flat).to(z.dtype).reshape(z.shape[:-1]).clamp_min(self.floor_std)


@dataclass(frozen=True)
class Failures:
    """Highest-fidelity tests that failed for a cause of the design, and every test's exposure.

    Attributes:
        points: ``n x d`` region coordinates of the tests.
        failed: ``n`` 1 where the test failed for a cause of the design.
        exposure: ``n`` share of the horizon the test survived (1 for a failure or a full test).
        radius: Kernel width in region coordinates.
    """

    points: np.ndarray
    failed: np.ndarray
    exposure: np.ndarray
    radius: float

    @property
    def base_rate(self) -> float:
        """The campaign's failure rate per exposure, shrunk towards 10 % as if five tests had been seen."""
        return float((self.failed.sum() + 0.5) / (self.exposure.sum() + 5.0))

    def local_rate(self, z: Tensor) -> Tensor:
        """Failure probability at region points ``z`` (``... x d``): ``...``, in [0, 1].

        ``(sum w failed + p0) / (sum w exposure + 1)`` with ``p0`` the :attr:`base_rate`.
        """
        if len(self.failed) == 0:
            return torch.zeros(z.shape[:-1], dtype=z.dtype)
        weights = _weights(z, self.points, self.radius)
        failed = torch.as_tensor(self.failed, dtype=z.dtype)
        exposure = torch.as_tensor(self.exposure, dtype=z.dtype)
        return ((weights @ failed + self.base_rate) / (weights @ exposure + 1.0)).clamp(0.0, 1.0)


def _weights(z: Tensor, points: np.ndarray, radius: float) -> Tensor:
    """Gaussian kernel weights ``... x n`` between ``z`` (``... x d``) and ``points`` (``n x d``)."""
    where = torch.as_tensor(points, dtype=z.dtype)
    squared = ((z.unsqueeze(-2) - where) ** 2).sum(dim=-1)
    return torch.exp(-squared / (2.0 * radius ** 2))
