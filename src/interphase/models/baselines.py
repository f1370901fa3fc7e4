"""The two early-prediction baselines the model must beat (issue 4).

- :func:`sqrt_t_fit`: the classic SEI growth law, ``retention(t) = 1 - a sqrt(t) - b t``
  with ``a, b >= 0``, fitted to the observed prefix of one test and extrapolated.
- :class:`GPEndpointBaseline`: a BoTorch ``SingleTaskGP`` from design to endpoint, which
  sees no cycle of the test it predicts.

Only NumPy and SciPy load with this module; torch and BoTorch load when a GP is fitted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import nnls

from interphase.schema import InvalidInputError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: Fewer points than this fit ``a`` alone: two points would fix both terms exactly,
#: so the linear term would carry all of their noise into the extrapolation.
MIN_POINTS_FOR_LINEAR_TERM = 3


@dataclass(frozen=True)
class SqrtTLaw:
    """A fitted ``retention(t) = 1 - a sqrt(t) - b t``.

    Attributes:
        a: Coefficient of ``sqrt(t)`` (diffusion-limited SEI growth), per sqrt(cycle); >= 0.
        b: Coefficient of ``t`` (linear, e.g. reaction-limited loss), per cycle; >= 0.
    """

    a: float
    b: float

    def predict(self, cycles: ArrayLike) -> np.ndarray:
        """Retention (fraction) at ``cycles`` (any shape, >= 0); same shape out."""
        t = np.asarray(cycles, dtype=float)
        return 1.0 - self.a * np.sqrt(t) - self.b * t


def fit_sqrt_t_law(cycles: np.ndarray, retention: np.ndarray) -> SqrtTLaw:
    """Least-squares fit of ``1 - retention = a sqrt(t) + b t`` with ``a, b >= 0`` (NNLS).

    The intercept is pinned at retention 1 at cycle 0, so retention should be normalised to
    the initial capacity. Points at cycle 0 carry no information and are ignored. Short
    prefixes: with fewer than :data:`MIN_POINTS_FOR_LINEAR_TERM` informative points only
    ``a`` is fitted (``b = 0``): one point cannot separate the terms, and two would be
    interpolated exactly, noise included, which the linear term amplifies at the horizon.
    Early SEI growth is dominated by the ``sqrt(t)`` term anyway. With no informative point
    the law is flat (``a = b = 0``).

    Args:
        cycles: ``k`` cycle numbers of the prefix (>= 0, finite).
        retention: ``k`` retention fractions at those cycles (finite).

    Returns:
        The fitted law.

    Raises:
        InvalidInputError: On empty, mismatched or non-finite inputs, or negative cycles.
    """
    t, r = _checked_prefix(cycles, retention)
    informative = t > 0
    t, fade = t[informative], 1.0 - r[informative]
    if t.size == 0:
        return SqrtTLaw(a=0.0, b=0.0)
    if t.size < MIN_POINTS_FOR_LINEAR_TERM:
        basis = np.sqrt(t)
        return SqrtTLaw(a=max(0.0, float(basis @ fade / (basis @ basis))), b=0.0)
    (a, b), _ = nnls(np.column_stack([np.sqrt(t), t]), fade)
    return SqrtTLaw(a=float(a), b=float(b))


def sqrt_t_fit(cycles: np.ndarray, retention: np.ndarray, horizon: int) -> float:
    """Retention predicted at cycle ``horizon`` by the ``sqrt(t) + t`` law fitted to a prefix.

    Args:
        cycles: ``k`` cycle numbers of the observed prefix (>= 0).
        retention: ``k`` retention fractions observed at them.
        horizon: Cycle to predict at (>= 1).

    Returns:
        The predicted retention fraction (may fall below 0 far out; it is not clipped,
        so the baseline's errors stay visible).

    Raises:
        InvalidInputError: On bad prefixes (see :func:`fit_sqrt_t_law`) or ``horizon < 1``.
    """
    _check_horizon(np.asarray(horizon))
    return float(fit_sqrt_t_law(cycles, retention).predict(horizon))


def sqrt_t_fit_many(
    retention: np.ndarray,
    horizon: int | np.ndarray,
    mask: np.ndarray | None = None,
    cycles: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`sqrt_t_fit` over many padded records at once.

    Args:
        retention: ``n x T`` retention fractions; entries outside ``mask`` may be anything.
        horizon: Cycle to predict at, one for all (int) or one per record (``n``).
        mask: Optional ``n x T``, nonzero where ``retention`` is observed (e.g. the first 10 %
            of each test's cycles); ``None`` keeps every entry.
        cycles: Cycle numbers, ``T`` (shared) or ``n x T``; default ``1..T`` (position ``t``
            holds cycle ``t + 1``, as in :class:`~interphase.models.batch.TrajectoryBatch`).

    Returns:
        ``n`` predicted retentions; a record with no observed cycle after 0 predicts 1.

    Raises:
        InvalidInputError: On mismatched shapes, or invalid values at observed entries.
    """
    retention = np.asarray(retention, dtype=float)
    if retention.ndim != 2:
        raise InvalidInputError("retention", f"must be n x T, got shape {retention.shape}")
    n, steps = retention.shape
    keep = np.ones((n, steps), dtype=bool) if mask is None else np.asarray(mask) != 0
    if keep.shape != (n, steps):
        raise InvalidInputError("mask", f"must have shape {(n, steps)}, got {keep.shape}")
    t = np.arange(1, steps + 1, dtype=float) if cycles is None else np.asarray(cycles, dtype=float)
    try:
        t = np.broadcast_to(t, (n, steps))
    except ValueError as error:
        raise InvalidInputError("cycles", f"must be T or n x T with T = {steps}") from error
    horizons = np.broadcast_to(np.asarray(horizon), (n,))
    _check_horizon(horizons)
    predictions = np.empty(n)
    for row in range(n):
        if not keep[row].any():
            predictions[row] = 1.0
            continue
        law = fit_sqrt_t_law(t[row, keep[row]], retention[row, keep[row]])
        predictions[row] = float(law.predict(horizons[row]))
    return predictions


def _checked_prefix(cycles: ArrayLike, retention: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(cycles, dtype=float).reshape(-1)
    r = np.asarray(retention, dtype=float).reshape(-1)
    if t.size == 0 or t.size != r.size:
        raise InvalidInputError("cycles", f"needs k >= 1 cycles, k retentions; got {t.size}, {r.size}")
    if not (np.isfinite(t).all() and np.isfinite(r).all()):
        raise InvalidInputError("retention", "cycles and retention must be finite")
    if (t < 0).any():
        raise InvalidInputError("cycles", "must be >= 0")
    return t, r


def _check_horizon(horizon: np.ndarray) -> None:
    if not (np.isfinite(horizon).all() and (horizon >= 1).all()):
        raise InvalidInputError("horizon", "must be a cycle number >= 1")


class GPEndpointBaseline:
    """A BoTorch ``SingleTaskGP`` from designs to one endpoint, fitted by marginal likelihood.

    Float64 throughout; inputs pass a ``Normalize`` transform with fixed ``bounds`` (the unit
    cube by default, so that length scales mean the same on every data set), and the endpoint
    a ``Standardize`` one. Hyperparameters are fitted with ``fit_gpytorch_mll`` under
    ``seed``, so equal data and seed give equal predictions.

    Args:
        bounds: ``2 x d`` lower and upper bounds of the designs; ``None`` for ``[0, 1]^d``.
        seed: Seeds torch's generator during fitting (used by retries from random starts).
    """

    def __init__(self, bounds: np.ndarray | None = None, seed: int = 0) -> None:
        self.bounds = bounds
        self.seed = seed
        self.model_: Any = None
        self._fitted_bounds = np.empty((2, 0))

    def fit(self, x: np.ndarray, y: np.ndarray) -> GPEndpointBaseline:
        """Fit the GP.

        Args:
            x: ``n x d`` designs (``n >= 2``) inside ``bounds``.
            y: ``n`` endpoint values (finite).

        Returns:
            ``self``, fitted.

        Raises:
            InvalidInputError: On mismatched shapes, too few points, non-finite values or
                designs outside ``bounds``.
        """
        import torch

        with warnings.catch_warnings():
            # linear_operator (under gpytorch) uses torch.jit.script, deprecated since torch
            # 2.13: harmless, but fatal wherever warnings are errors (our test suite).
            warnings.filterwarnings(
                "ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning
            )
            from botorch.fit import fit_gpytorch_mll
            from botorch.models import SingleTaskGP
            from botorch.models.transforms import Normalize, Standardize
            from gpytorch.mlls import ExactMarginalLogLikelihood

        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 2:
            raise InvalidInputError(
                "x", f"needs n x d designs, n endpoints, n >= 2; got {x.shape}, {y.shape}"
            )
        if not np.isfinite(y).all():
            raise InvalidInputError("y", "must be finite")
        bounds = self._checked_bounds(x.shape[1])
        self._check_inside(x, bounds)
        train_x = torch.as_tensor(x, dtype=torch.float64)
        train_y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = SingleTaskGP(
                train_x,
                train_y,
                input_transform=Normalize(d=x.shape[1], bounds=torch.as_tensor(bounds, dtype=torch.float64)),
                outcome_transform=Standardize(m=1),
            )
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        model.eval()
        self.model_ = model
        self._fitted_bounds = bounds
        return self

    def predict(self, x: np.ndarray, observation_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the endpoint.

        Args:
            x: ``m x d`` designs inside ``bounds``.
            observation_noise: ``True`` for the predictive std of a new measurement (what
                interval coverage of observations needs); ``False`` for the noise-free
                latent endpoint.

        Returns:
            ``(mean, std)``, each ``m``, in the endpoint's unit.

        Raises:
            InvalidInputError: Before :meth:`fit`, or on designs of the wrong width or
                outside ``bounds``.
        """
        import torch

        if self.model_ is None:
            raise InvalidInputError("GPEndpointBaseline", "call fit() before predict()")
        x = np.asarray(x, dtype=float)
        bounds = self._fitted_bounds
        if x.ndim != 2 or x.shape[1] != bounds.shape[1]:
            raise InvalidInputError("x", f"must be m x {bounds.shape[1]}, got shape {x.shape}")
        self._check_inside(x, bounds)
        with torch.no_grad():
            posterior = self.model_.posterior(
                torch.as_tensor(x, dtype=torch.float64), observation_noise=observation_noise
            )
            mean = posterior.mean.squeeze(-1).numpy()
            std = posterior.variance.clamp_min(0.0).sqrt().squeeze(-1).numpy()
        return mean, std

    def _checked_bounds(self, dim: int) -> np.ndarray:
        if self.bounds is None:
            return np.stack([np.zeros(dim), np.ones(dim)])
        bounds = np.asarray(self.bounds, dtype=float)
        if bounds.shape != (2, dim) or not (bounds[1] > bounds[0]).all():
            raise InvalidInputError("bounds", f"must be 2 x {dim} with upper > lower")
        return bounds

    @staticmethod
    def _check_inside(x: np.ndarray, bounds: np.ndarray) -> None:
        if not np.isfinite(x).all():
            raise InvalidInputError("x", "must be finite")
        slack = 1e-9 * (bounds[1] - bounds[0])
        if ((x < bounds[0] - slack) | (x > bounds[1] + slack)).any():
            raise InvalidInputError("x", "designs must lie inside bounds (the unit cube by default)")
