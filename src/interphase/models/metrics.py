"""Scores of point, Gaussian and sample predictions, each with an optional mask.

Conventions shared by every function here:

- ``y`` is the tensor of observations, of any shape ``*S`` (e.g. ``B x T x O``).
- Point and Gaussian predictions (``pred``, ``mean``, ``std``, ``var``, ``lower``, ``upper``)
  broadcast to ``*S``.
- Sample predictions put the sample dimension first: ``samples`` is ``N x *S``, the order
  BoTorch's samplers use.
- ``mask`` has exactly the shape ``*S``; entries where it is 0 / False are ignored, so
  their ``y`` may hold anything, NaN included. ``None`` keeps every entry.
- Scores are Python floats averaged over the kept entries; with no entry kept they are
  ``nan``. Curves come back as 1-D tensors.
- Arithmetic runs in float64 on detached tensors, so scoring never touches a graph.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch
from torch import Tensor

from interphase.schema import InvalidInputError

_SQRT_PI = math.sqrt(math.pi)
_LOG_2PI = math.log(2.0 * math.pi)


def _as_float64(name: str, value: Tensor) -> Tensor:
    tensor = torch.as_tensor(value).detach()
    if tensor.is_complex():
        raise InvalidInputError(name, "must be real-valued")
    return tensor.to(torch.float64)


def _keep(mask: Tensor | None, shape: torch.Size) -> Tensor | None:
    """A boolean tensor of ``shape`` marking kept entries, or ``None`` for all."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask).detach()
    if mask.shape != shape:
        raise InvalidInputError("mask", f"must have the shape of y {tuple(shape)}, got {tuple(mask.shape)}")
    return mask != 0


def _flatten(y: Tensor, mask: Tensor | None, **predictions: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """``y`` and each prediction (broadcast to ``y``) as 1-D float64 tensors of the kept entries."""
    y = _as_float64("y", y)
    keep = _keep(mask, y.shape)
    flat = {}
    for name, value in predictions.items():
        tensor = _as_float64(name, value)
        try:
            tensor = torch.broadcast_to(tensor, y.shape)
        except RuntimeError as error:
            raise InvalidInputError(
                name, f"shape {tuple(tensor.shape)} does not broadcast to y's {tuple(y.shape)}"
            ) from error
        flat[name] = tensor.reshape(-1) if keep is None else tensor[keep]
    return (y.reshape(-1) if keep is None else y[keep]), flat


def _mean(values: Tensor) -> float:
    return float("nan") if values.numel() == 0 else float(values.mean())


def _check_positive(name: str, values: Tensor) -> None:
    if not bool((values > 0).all()):
        raise InvalidInputError(name, "must be > 0 at every kept entry")


def _samples_and_y(
    y: Tensor, samples: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor]:
    """``(y_kept (k,), samples_kept (N x k))`` from ``y (*S)`` and ``samples (N x *S)``."""
    y = _as_float64("y", y)
    samples = _as_float64("samples", samples)
    if samples.ndim != y.ndim + 1 or samples.shape[1:] != y.shape or samples.shape[0] < 1:
        raise InvalidInputError(
            "samples", f"must be N x {tuple(y.shape)} with N >= 1, got {tuple(samples.shape)}"
        )
    keep = _keep(mask, y.shape)
    if keep is None:
        return y.reshape(-1), samples.reshape(samples.shape[0], -1)
    return y[keep], samples[:, keep]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InvalidInputError("level", f"must lie in (0, 1), got {level}")


def rmse(y: Tensor, pred: Tensor, mask: Tensor | None = None) -> float:
    """Root mean squared error.

    Args:
        y: ``*S`` observations.
        pred: Point predictions, broadcastable to ``*S``.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        ``sqrt(mean((y - pred)^2))`` over the kept entries, in the unit of ``y``.

    Raises:
        InvalidInputError: On mismatched shapes.
    """
    y, flat = _flatten(y, mask, pred=pred)
    return math.sqrt(_mean((y - flat["pred"]) ** 2))


def mae(y: Tensor, pred: Tensor, mask: Tensor | None = None) -> float:
    """Mean absolute error; arguments as in :func:`rmse`."""
    y, flat = _flatten(y, mask, pred=pred)
    return _mean((y - flat["pred"]).abs())


def mape(y: Tensor, pred: Tensor, mask: Tensor | None = None) -> float:
    """Mean absolute percentage error, meant for endpoints such as retention at the last cycle.

    Args:
        y: ``*S`` observations; nonzero at every kept entry.
        pred: Point predictions, broadcastable to ``*S``.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        ``100 * mean(|y - pred| / |y|)``, in percent.

    Raises:
        InvalidInputError: On mismatched shapes, or a kept ``y`` equal to 0.
    """
    y, flat = _flatten(y, mask, pred=pred)
    if bool((y == 0).any()):
        raise InvalidInputError("y", "MAPE needs nonzero observations at every kept entry")
    return 100.0 * _mean(((y - flat["pred"]) / y).abs())


def gaussian_nll(y: Tensor, mean: Tensor, std: Tensor, mask: Tensor | None = None) -> float:
    """Mean negative log density of ``y`` under independent ``N(mean, std^2)``.

    Args:
        y: ``*S`` observations.
        mean: Predictive means, broadcastable to ``*S``.
        std: Predictive standard deviations (> 0), broadcastable to ``*S``.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        ``mean(0.5 * log(2 pi std^2) + (y - mean)^2 / (2 std^2))``, in nats per entry.

    Raises:
        InvalidInputError: On mismatched shapes or a kept ``std <= 0``.
    """
    y, flat = _flatten(y, mask, mean=mean, std=std)
    _check_positive("std", flat["std"])
    z = (y - flat["mean"]) / flat["std"]
    return _mean(0.5 * _LOG_2PI + torch.log(flat["std"]) + 0.5 * z**2)


def gaussian_crps(y: Tensor, mean: Tensor, std: Tensor, mask: Tensor | None = None) -> float:
    """Mean continuous ranked probability score of ``N(mean, std^2)``, in closed form.

    ``CRPS = std * (z * (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`` with
    ``z = (y - mean) / std`` (Gneiting & Raftery 2007). Lower is better; it has the unit of
    ``y`` and reduces to the absolute error as ``std -> 0``.

    Args:
        y: ``*S`` observations.
        mean: Predictive means, broadcastable to ``*S``.
        std: Predictive standard deviations (> 0), broadcastable to ``*S``.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        The mean CRPS over the kept entries.

    Raises:
        InvalidInputError: On mismatched shapes or a kept ``std <= 0``.
    """
    y, flat = _flatten(y, mask, mean=mean, std=std)
    _check_positive("std", flat["std"])
    z = (y - flat["mean"]) / flat["std"]
    pdf = torch.exp(-0.5 * z**2 - 0.5 * _LOG_2PI)
    cdf = torch.special.ndtr(z)
    return _mean(flat["std"] * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / _SQRT_PI))


def sample_crps(y: Tensor, samples: Tensor, mask: Tensor | None = None) -> float:
    """Mean CRPS of an empirical predictive distribution, in the energy form.

    ``CRPS = E|X - y| - 0.5 E|X - X'|`` with ``X, X'`` independent draws. The second term is
    estimated over distinct pairs (divided by ``N (N - 1)``), the unbiased ("fair") estimator,
    so samples from the true distribution score the same on average whatever ``N`` is. Pairs
    are summed after sorting, in ``O(N log N)`` per entry. With ``N = 1`` it is the absolute
    error.

    Args:
        y: ``*S`` observations.
        samples: ``N x *S`` draws from the predictive distribution.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        The mean CRPS over the kept entries, in the unit of ``y``.

    Raises:
        InvalidInputError: If ``samples`` is not ``N x *S``.
    """
    y, samples = _samples_and_y(y, samples, mask)
    n = samples.shape[0]
    absolute_error = (samples - y).abs().mean(dim=0)
    if n == 1:
        return _mean(absolute_error)
    ordered = samples.sort(dim=0).values
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2 i - n + 1) x_(i) for 0-based order statistics.
    rank_weights = (2.0 * torch.arange(n, dtype=torch.float64) - n + 1.0).unsqueeze(-1)
    pair_sum = 2.0 * (rank_weights * ordered).sum(dim=0)
    return _mean(absolute_error - 0.5 * pair_sum / (n * (n - 1)))


def interval_coverage(y: Tensor, lower: Tensor, upper: Tensor, mask: Tensor | None = None) -> float:
    """Fraction of observations inside their predicted interval, ends included.

    Args:
        y: ``*S`` observations.
        lower: Lower ends, broadcastable to ``*S``.
        upper: Upper ends, broadcastable to ``*S``.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        The observed coverage in [0, 1].

    Raises:
        InvalidInputError: On mismatched shapes or a kept ``lower > upper``.
    """
    y, flat = _flatten(y, mask, lower=lower, upper=upper)
    if bool((flat["lower"] > flat["upper"]).any()):
        raise InvalidInputError("lower", "must not exceed upper")
    inside = (y >= flat["lower"]) & (y <= flat["upper"])
    return _mean(inside.to(torch.float64))


def central_interval(mean: Tensor, std: Tensor, level: float) -> tuple[Tensor, Tensor]:
    """The central ``level`` interval of ``N(mean, std^2)``, elementwise (so no mask).

    Args:
        mean: Means, any shape.
        std: Standard deviations (>= 0), broadcastable with ``mean``.
        level: Nominal coverage in (0, 1), e.g. 0.9.

    Returns:
        ``(lower, upper)`` of the broadcast shape and the dtype of ``mean``:
        ``mean -/+ Phi^-1((1 + level) / 2) * std``.

    Raises:
        InvalidInputError: If ``level`` is outside (0, 1) or a ``std`` is negative.
    """
    _check_level(level)
    if bool((torch.as_tensor(std) < 0).any()):
        raise InvalidInputError("std", "must be >= 0")
    half_width = NormalDist().inv_cdf(0.5 * (1.0 + level)) * std
    return mean - half_width, mean + half_width


def sample_central_interval(samples: Tensor, level: float) -> tuple[Tensor, Tensor]:
    """The central ``level`` interval of an empirical distribution, elementwise.

    Args:
        samples: ``N x *S`` draws.
        level: Nominal coverage in (0, 1).

    Returns:
        ``(lower, upper)``, each ``*S``: the ``(1 - level) / 2`` and ``(1 + level) / 2``
        sample quantiles (linear interpolation between order statistics).

    Raises:
        InvalidInputError: If ``level`` is outside (0, 1) or ``samples`` has no sample dim.
    """
    _check_level(level)
    bounds = _sample_quantiles(samples, torch.tensor([0.5 * (1.0 - level), 0.5 * (1.0 + level)]))
    return bounds[0], bounds[1]


def _sample_quantiles(samples: Tensor, levels: Tensor) -> Tensor:
    """``L x *S`` quantiles of ``samples (N x *S)`` at ``levels (L,)``.

    Sorting and interpolating by hand, unlike ``torch.quantile``, has no input size limit.
    """
    samples = torch.as_tensor(samples).detach()
    if samples.ndim < 1 or samples.shape[0] < 1:
        raise InvalidInputError("samples", "needs a leading sample dimension with N >= 1")
    ordered = samples.sort(dim=0).values
    position = levels.to(torch.float64) * (samples.shape[0] - 1)
    below = position.floor().long()
    above = position.ceil().long()
    fraction = (position - below).to(ordered.dtype).reshape(-1, *([1] * (samples.ndim - 1)))
    return ordered[below] + fraction * (ordered[above] - ordered[below])


def quantile_coverage_curve(
    y: Tensor,
    prediction: Tensor | tuple[Tensor, Tensor],
    levels: Tensor | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Points of a reliability diagram: nominal quantile level against observed frequency.

    For each level ``p`` the observed value is the fraction of kept ``y`` at or below the
    predicted ``p``-quantile. A calibrated model lies on the diagonal; a curve flatter than
    the diagonal means intervals that are too narrow (over-confidence).

    Args:
        y: ``*S`` observations.
        prediction: Either ``samples`` (``N x *S``), whose empirical quantiles are used, or a
            Gaussian ``(mean, std)`` pair, each broadcastable to ``*S``.
        levels: ``L`` nominal levels in (0, 1); default 0.05, 0.10, ..., 0.95.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        ``(levels, observed)``, both ``L`` float64 tensors; ``observed`` is all ``nan`` when
        no entry is kept.

    Raises:
        InvalidInputError: On mismatched shapes or a level outside (0, 1).
    """
    levels = torch.linspace(0.05, 0.95, 19, dtype=torch.float64) if levels is None else levels
    levels = _as_float64("levels", levels).reshape(-1)
    if levels.numel() == 0 or bool(((levels <= 0) | (levels >= 1)).any()):
        raise InvalidInputError("levels", "must be a non-empty set of values in (0, 1)")
    if isinstance(prediction, tuple):
        mean, std = prediction
        y_kept, flat = _flatten(y, mask, mean=mean, std=std)
        if bool((flat["std"] < 0).any()):
            raise InvalidInputError("std", "must be >= 0")
        z = torch.tensor([NormalDist().inv_cdf(float(p)) for p in levels], dtype=torch.float64)
        quantiles = flat["mean"] + z.unsqueeze(-1) * flat["std"]
    else:
        y_kept, samples = _samples_and_y(y, prediction, mask)
        quantiles = _sample_quantiles(samples, levels)
    if y_kept.numel() == 0:
        return levels, torch.full_like(levels, float("nan"))
    return levels, (y_kept <= quantiles).to(torch.float64).mean(dim=-1)


def roc_auc(labels: Tensor, scores: Tensor, mask: Tensor | None = None) -> float:
    """Area under the ROC curve, e.g. of the feasibility head's failure probabilities.

    Computed as the Mann-Whitney statistic with mid-ranks, so a tie between a positive and a
    negative counts one half.

    Args:
        labels: ``*S`` binary labels (bool, or numbers equal to 0 or 1); 1 is the positive
            class (e.g. failed).
        scores: ``*S`` scores; higher means more likely positive.
        mask: Optional ``*S``; nonzero where the pair counts.

    Returns:
        The AUC in [0, 1]: 1 for perfect ranking, 0 for reversed, about 0.5 for random; ``nan``
        when the kept labels lack either class.

    Raises:
        InvalidInputError: On mismatched shapes or labels other than 0 and 1.
    """
    labels, flat = _flatten(labels, mask, scores=scores)
    if bool(((labels != 0) & (labels != 1)).any()):
        raise InvalidInputError("labels", "must be 0 or 1")
    positive = labels == 1
    n_positive = int(positive.sum())
    n_negative = labels.numel() - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    if bool(torch.isnan(flat["scores"]).any()):
        raise InvalidInputError("scores", "must not be NaN at a kept entry")
    _, inverse, counts = torch.unique(flat["scores"], sorted=True, return_inverse=True, return_counts=True)
    counts = counts.to(torch.float64)
    mid_ranks = torch.cumsum(counts, dim=0) - 0.5 * (counts - 1.0)
    rank_sum = float(mid_ranks[inverse][positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative)


def variance_calibration_factor(
    y: Tensor, mean: Tensor, var: Tensor, mask: Tensor | None = None
) -> float:
    """The scalar ``s`` that recalibrates predictive variances, fitted on a validation split.

    ``s = mean((y - mean)^2 / var)``: the mean squared standardised residual. Using
    ``var * s`` (so ``std * sqrt(s)``) gives standardised residuals of unit mean square on
    the split it was fitted on, and ``s`` is also the maximiser of the Gaussian likelihood of
    ``N(mean, s * var)`` there. ``s > 1`` means the model was over-confident, ``s < 1``
    under-confident. Fit it on held-out validation designs, never on the training data
    (where residuals are too small) nor on the test split (which it would leak into), then
    apply the same ``s`` to every later prediction of that model.

    Args:
        y: ``*S`` validation observations.
        mean: Predictive means, broadcastable to ``*S``.
        var: Predictive variances (> 0), broadcastable to ``*S``; total (aleatoric plus
            epistemic) when the calibrated quantity is the predictive distribution.
        mask: Optional ``*S``; nonzero where ``y`` counts.

    Returns:
        ``s`` as a float; ``nan`` when no entry is kept.

    Raises:
        InvalidInputError: On mismatched shapes or a kept ``var <= 0``.
    """
    y, flat = _flatten(y, mask, mean=mean, var=var)
    _check_positive("var", flat["var"])
    return _mean((y - flat["mean"]) ** 2 / flat["var"])
