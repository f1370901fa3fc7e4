"""A deep ensemble of generative networks: epistemic uncertainty from K bootstrapped members.

Each member is an :class:`~interphase.models.generative.InterphaseNet` trained on a
bootstrap sample of the designs with its own seed. A member's latent paths carry the
process noise of the cells (aleatoric, with the emission variance); the spread between
members' means is what the data does not pin down (epistemic). An optional scalar
calibration factor, fitted on a validation split, scales both variances.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from interphase.models.batch import TrajectoryBatch
from interphase.models.config import NetConfig
from interphase.models.training import ProgressCallback, TrainConfig, epochs_for, fit_members, steps_for

DEFAULT_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


class EnsembleConfig(BaseModel):
    """The ensemble and its training.

    Attributes:
        members: K, networks in the ensemble.
        bootstrap: Whether each member trains on a bootstrap sample of the designs.
        seed: Seed of member ``k`` is ``seed + k``.
        net: Architecture of every member.
        train: Optimiser settings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: int = Field(default=5, ge=1, le=100)
    bootstrap: bool = True
    seed: int = Field(default=0, ge=0)
    net: NetConfig = NetConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Prediction:
    """Predicted trajectories.

    Attributes:
        mean: ``B x T x O`` predictive mean, canonical units.
        aleatoric_std: ``B x T x O``: the cells' own variability and measurement noise.
        epistemic_std: ``B x T x O``: disagreement between members (shrinks with data).
        quantiles: ``L x B x T x O`` predictive quantiles at :attr:`levels`.
        levels: ``L`` quantile levels in (0, 1).
    """

    mean: Tensor
    aleatoric_std: Tensor
    epistemic_std: Tensor
    quantiles: Tensor
    levels: Tensor

    @property
    def total_std(self) -> Tensor:
        """``B x T x O`` predictive standard deviation, both kinds together."""
        return torch.sqrt(self.aleatoric_std**2 + self.epistemic_std**2)


class DeepEnsemble:
    """K generative networks and what they need to predict.

    Args:
        build_net: Makes a fresh, untrained member (the dataset fixes its shapes).
        config: Ensemble and training settings.
    """

    def __init__(self, build_net: Callable[[], torch.nn.Module], config: EnsembleConfig) -> None:
        self.build_net = build_net
        self.config = config
        self.members: list[torch.nn.Module] = []
        self.variance_factor = 1.0  # pooled over observables, for people
        self.variance_factors: Tensor | None = None  # n_sources x O, what predict applies
        self.condition_factors: Tensor | None = None  # n_sources x Oc, what predict_conditions applies

    def fit(self, batch: TrajectoryBatch, rows_for: Callable[[int], Tensor], *, warm: bool = False,
            progress: ProgressCallback | None = None) -> list[list[float]]:
        """Train every member.

        The members train together (:func:`~interphase.models.training.fit_members`): each
        weighs the records by how often its rows hold them.

        Args:
            batch: All records.
            rows_for: Member index → its training rows (a bootstrap sample, or all).
            warm: Continue from the current members for ``train.warm_epochs`` epochs
                instead of training new ones for ``train.epochs`` (or more, to reach
                ``train.min_steps``).
            progress: Called after each optimiser step (one step trains every member).

        Returns:
            Each member's loss per epoch.
        """
        if not warm or len(self.members) != self.config.members:
            warm = False
            self.members = []
            for k in range(self.config.members):
                with torch.random.fork_rng(devices=[]):  # initial weights, without touching the caller's seed
                    torch.manual_seed(self.config.seed + k)
                    self.members.append(self.build_net())
        weights = self.member_weights(len(batch), rows_for)
        return fit_members(self.members, batch, weights, self.config.train,
                           epochs=self._epochs(weights, warm), seed=self.config.seed + (7 if warm else 0),
                           progress=progress)

    def member_weights(self, n_records: int, rows_for: Callable[[int], Tensor]) -> Tensor:
        """``K x B`` weights: how often member ``k``'s rows hold each of the ``B`` records."""
        return torch.stack([torch.bincount(rows_for(k), minlength=n_records).to(torch.float32)
                            for k in range(self.config.members)])

    def planned_steps(self, n_records: int, rows_for: Callable[[int], Tensor], *, warm: bool = False) -> int:
        """Optimiser steps :meth:`fit` will take with these arguments (for progress bars)."""
        weights = self.member_weights(n_records, rows_for)
        warm = warm and len(self.members) == self.config.members
        return steps_for(int(weights.sum(dim=0).gt(0).sum()), self.config.train, self._epochs(weights, warm))

    def _epochs(self, weights: Tensor, warm: bool) -> int:
        if warm:
            return self.config.train.warm_epochs
        return epochs_for(int(weights.sum(dim=0).gt(0).sum()), self.config.train)

    @torch.no_grad()
    def member_samples(self, batch: TrajectoryBatch, horizon: int, n_samples: int,
                       prefix_cycles: Tensor | None = None, seed: int = 0,
                       cycles: Tensor | None = None,
                       columns: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
        """Every member's latent paths (at ``cycles`` only, when given; see ``sample_trajectories``).

        Returns:
            Emission means and aleatoric variances, each ``K x S x B x T x O`` (``T`` the
            number of ``cycles`` when given).
        """
        means, variances = [], []
        for k, net in enumerate(self.members):
            generator = torch.Generator().manual_seed(seed + k)
            mean, var = net.sample_trajectories(batch, horizon=horizon, n_samples=n_samples,
                                                prefix_cycles=prefix_cycles, cycles=cycles,
                                                columns=columns, generator=generator)
            means.append(mean)
            variances.append(var)
        return torch.stack(means), torch.stack(variances)

    def predict(self, batch: TrajectoryBatch, horizon: int, *, n_samples: int = 32,
                prefix_cycles: Tensor | None = None, levels: Sequence[float] = DEFAULT_LEVELS,
                seed: int = 0, cycles: Tensor | None = None,
                columns: Sequence[int] | None = None) -> Prediction:
        """Predict trajectories with both kinds of uncertainty.

        Args:
            batch: ``B`` records (design, source, controls; observations only matter for
                the prefix).
            horizon: T, cycles to predict.
            n_samples: Latent paths per member.
            prefix_cycles: ``B`` (long): condition each record on its first k observed
                cycles; None for none.
            levels: Quantile levels.
            seed: Seeds the latent noise.
            cycles: ``n`` (long) cycle numbers in ``[1, horizon]`` to predict instead of all
                (the prediction's ``T`` is then ``n``): endpoints of many designs for less.
            columns: Positions of the observables to predict (the prediction's ``O``); None: all.

        Returns:
            The prediction, calibrated if :meth:`calibrate` was run.
        """
        means, variances = self.member_samples(batch, horizon, n_samples, prefix_cycles, seed, cycles,
                                               columns)
        factor = self.factors_for(batch.source, self._n_observables).unsqueeze(1)  # B x 1 x O x 2
        if columns is not None:
            factor = factor[:, :, list(columns)]
        return _summarise(means, variances, factor, levels, seed)

    @torch.no_grad()
    def member_condition_samples(self, batch: TrajectoryBatch, conditions: Tensor, n_samples: int,
                                 seed: int = 0) -> tuple[Tensor, Tensor]:
        """Every member's draws of the condition-indexed observables.

        Returns:
            Emission means and aleatoric variances, each ``K x S x B x C x Oc``.
        """
        means, variances = [], []
        for k, net in enumerate(self.members):
            generator = torch.Generator().manual_seed(seed + k)
            mean, var = net.sample_conditions(batch, conditions, n_samples, generator=generator)
            means.append(mean)
            variances.append(var)
        return torch.stack(means), torch.stack(variances)

    def predict_conditions(self, batch: TrajectoryBatch, conditions: Tensor, *, n_samples: int = 32,
                           levels: Sequence[float] = DEFAULT_LEVELS, seed: int = 0) -> Prediction:
        """Predict the condition-indexed observables (e.g. conductivity at each temperature).

        Args:
            batch: ``B`` records (design and source matter).
            conditions: ``C`` condition values (e.g. temperatures in K).
            n_samples: Draws of z0 per member.
            levels: Quantile levels.
            seed: Seeds the draws.

        Returns:
            A prediction whose arrays are ``B x C x Oc`` (quantiles ``L x B x C x Oc``),
            calibrated if :meth:`calibrate` saw condition-indexed values.
        """
        means, variances = self.member_condition_samples(batch, conditions, n_samples, seed)
        factor = _rows(self.condition_factors, batch.source, means.shape[-1]).unsqueeze(1)
        return _summarise(means, variances, factor, levels, seed)

    @torch.no_grad()
    def feasibility(self, batch: TrajectoryBatch) -> tuple[Tensor, Tensor]:
        """Probability of failure: the members' mean and their spread, each ``B``."""
        probabilities = torch.stack([net.feasibility(batch) for net in self.members])
        return probabilities.mean(dim=0), probabilities.std(dim=0, unbiased=False)

    @property
    def _n_observables(self) -> int:
        return len(self.members[0].observables) if self.members else 0

    def factors_for(self, source: Tensor, n_observables: int) -> Tensor:
        """``B x O x 2`` variance factors (inner, outer interval) of records from ``source`` (``B``, long).

        1.0 before calibration.
        """
        if self.variance_factors is None:
            return torch.full((len(source), n_observables, 2), float(self.variance_factor))
        return _rows(self.variance_factors, source, n_observables)

    @torch.no_grad()
    def calibrate(self, batch: TrajectoryBatch, horizon: int, *, n_sources: int,
                  conditions: Tensor | None = None, n_samples: int = 16, seed: int = 0,
                  min_values: int = 100) -> float:
        """Fit variance factors per source and observable on held-out records (post-hoc calibration).

        A factor ``f`` scales the predictive spread about the mean by ``sqrt(f)``. For each
        (source, observable) with at least ``min_values`` observed values there are two, found
        on a log grid: the inner one makes the central 50 % interval (from the same draws
        ``predict`` takes its quantiles from) hold 50 % of the held-out values, and scales the
        quantiles between 25 % and 75 %; the outer one does the same for the 90 % interval and
        scales the other quantiles and both stds. Residuals are heavy-tailed and differ between
        sources (a simulator's error is its bias, a lab cell's its spread), so factors per source,
        observable and interval, matched on the intervals people read, calibrate better than a
        pooled variance ratio. A pair with too few values gets the observable's factors over all
        sources, and an observable with too few the factors pooled over everything.

        Args:
            batch: Held-out records (a calibration split of the designs).
            horizon: Cycles to score.
            n_sources: Sources in the vocabulary (rows of the factor tables).
            conditions: ``C`` condition values of ``batch.cond_y`` (condition-indexed
                observables are calibrated too); None to leave them out.
            n_samples: Latent paths per member.
            seed: Seeds the paths.
            min_values: Fewest values a (source, observable) needs for a factor of its own.

        Returns:
            The factor pooled over the per-cycle observables' values (1.0 means already
            calibrated).
        """
        self.variance_factor, self.variance_factors, self.condition_factors = 1.0, None, None
        means, variances = self.member_samples(batch, horizon, n_samples, None, seed)
        steps = min(horizon, batch.y.shape[1])
        self.variance_factors, self.variance_factor = _factor_table(
            means[:, :, :, :steps], variances[:, :, :, :steps], batch.y[:, :steps],
            batch.y_mask[:, :steps] > 0, batch.source, n_sources, min_values, seed)
        if conditions is not None and batch.cond_y.shape[-1] and conditions.numel():
            means, variances = self.member_condition_samples(batch, conditions, n_samples, seed)
            self.condition_factors, _ = _factor_table(means, variances, batch.cond_y, batch.cond_mask > 0,
                                                      batch.source, n_sources, min_values, seed)
        return self.variance_factor

    def state(self) -> dict[str, Any]:
        """Everything needed to restore the members (with the config)."""
        return {"config": self.config.model_dump(mode="json"), "variance_factor": self.variance_factor,
                "variance_factors": self.variance_factors, "condition_factors": self.condition_factors,
                "members": [net.state_dict() for net in self.members]}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore members saved by :meth:`state` (the nets are rebuilt with ``build_net``)."""
        self.variance_factor = float(state["variance_factor"])
        self.variance_factors = state.get("variance_factors")
        self.condition_factors = state.get("condition_factors")
        self.members = []
        for weights in state["members"]:
            net = self.build_net()
            net.load_state_dict(weights)
            net.eval()
            self.members.append(net)


_CALIBRATION_LEVELS = (0.5, 0.9)
_CALIBRATION_QUANTILES = (0.25, 0.75, 0.05, 0.95)  # the bounds of those central intervals
_FACTOR_GRID = torch.logspace(-3.0, 3.0, 241)


def _summarise(means: Tensor, variances: Tensor, factor: Tensor, levels: Sequence[float],
               seed: int) -> Prediction:
    """Pool ``K x S x B x N x O`` path moments into a prediction, spread scaled by ``factor``.

    ``factor`` is ``B x 1 x O x 2``: the variance factors of the inner (central 50 %) and outer
    intervals. Quantiles at levels within [0.25, 0.75] take the inner factor, the others and both
    stds the outer one; the quantiles are sorted afterwards, so they never cross.
    """
    inner, outer = factor[..., 0], factor[..., 1]
    member_mean = means.mean(dim=1)  # K x B x N x O
    paths = means.shape[1]
    # Variances are written out (_spread): Tensor.var warns "degrees of freedom <= 0" on any empty
    # input, which a model without per-cycle (or without condition-indexed) observables gives.
    path_variance = _spread(means, member_mean, dim=1, ddof=1 if paths > 1 else 0)
    member_aleatoric = variances.mean(dim=1) + path_variance  # process noise within a member
    mean = member_mean.mean(dim=0)
    aleatoric = member_aleatoric.mean(dim=0) * outer
    # The spread of the members' path averages holds their Monte Carlo error, E_k[var_s] / S, besides
    # the members' disagreement; left in, it grows with the learnt process noise rather than shrinking
    # with the data. Subtract it (the unbiased estimate of the variance of the members' true means).
    disagreement = _spread(member_mean, mean, dim=0, ddof=0) - path_variance.mean(dim=0) / paths
    epistemic = disagreement.clamp_min(0.0) * outer
    deviations = _deviations(means, variances, mean, seed)
    level_tensor = torch.tensor(list(levels), dtype=deviations.dtype)
    if deviations.numel():
        raw = torch.quantile(deviations, level_tensor, dim=0)  # L x B x N x O
    else:  # nothing to predict (no observable or no step): torch.quantile refuses empty input
        raw = deviations.new_zeros((len(level_tensor), *deviations.shape[1:]))
    central = ((level_tensor - 0.5).abs() <= 0.25 + 1e-9).view(-1, 1, 1, 1)
    scaled = torch.where(central, raw * inner.sqrt(), raw * outer.sqrt())
    quantiles = mean + scaled.sort(dim=0).values
    return Prediction(mean=mean, aleatoric_std=aleatoric.sqrt(), epistemic_std=epistemic.sqrt(),
                      quantiles=quantiles, levels=level_tensor)


def _spread(values: Tensor, center: Tensor, *, dim: int, ddof: int) -> Tensor:
    """The variance along ``dim``: squared deviations from ``center``, summed, over ``n - ddof``.

    Args:
        values: Any shape; ``n = values.shape[dim]``, with ``n - ddof >= 1``.
        center: ``values``' mean along ``dim``, that dimension dropped.
        dim: The dimension reduced.
        ddof: 1 for the unbiased estimate, 0 for the population variance.

    Returns:
        ``values``' shape without ``dim``; empty for empty ``values``, without a warning.
    """
    return (values - center.unsqueeze(dim)).square().sum(dim=dim) / (values.shape[dim] - ddof)


def _rows(table: Tensor | None, source: Tensor, width: int) -> Tensor:
    """``B x width x 2`` rows of a factor table (inner and outer) for each record's source (ones without)."""
    if table is None or table.shape[1 if table.dim() > 1 else 0] != width:
        return torch.ones(len(source), width, 2)
    if table.dim() == 1:  # one factor per observable, for every source and interval
        table = table.view(1, -1)
    if table.dim() == 2:  # one factor per source and observable, for both intervals
        table = table.unsqueeze(-1).expand(-1, -1, 2)
    return table[source.clamp(max=table.shape[0] - 1)]


def _factor_table(means: Tensor, variances: Tensor, y: Tensor, mask: Tensor, source: Tensor, n_sources: int,
                  min_values: int, seed: int) -> tuple[Tensor, float]:
    """``n_sources x O`` calibrated factors (see ``DeepEnsemble.calibrate``) and the pooled one.

    Args:
        means: ``K x S x B x N x O`` path means on ``N`` cycles or conditions.
        variances: Their aleatoric variances.
        y: ``B x N x O`` held-out values.
        mask: ``B x N x O`` (bool) where observed.
        source: ``B`` (long) record sources.
        n_sources: Rows of the table.
        min_values: Fewest values for a factor of its own.
        seed: Seeds the emission noise of the draws.
    """
    if not bool(mask.any()):
        return torch.ones(n_sources, y.shape[-1]), 1.0
    mean = means.mean(dim=(0, 1))
    deviations = _deviations(means, variances, mean, seed)
    residual = y - mean
    bounds = torch.quantile(deviations, torch.tensor(_CALIBRATION_QUANTILES), dim=0)

    def fit(select: Tensor) -> Tensor | None:
        if int(select.sum()) < min_values:
            return None
        return _best_factors(residual[select], bounds[:, select])

    pooled = fit(mask)
    pooled = torch.ones(2) if pooled is None else pooled
    table = pooled.view(1, 1, 2).repeat(n_sources, y.shape[-1], 1)
    for o in range(y.shape[-1]):
        column = _only(mask, o)
        observable = fit(column)
        table[:, o] = pooled if observable is None else observable
        for s in range(n_sources):
            own = fit(column & (source == s).view(-1, 1, 1))
            if own is not None:
                table[s, o] = own
    return table, float(pooled[1])


def _deviations(means: Tensor, variances: Tensor, center: Tensor, seed: int) -> Tensor:
    """``(K S) x B x T x O`` draws about ``center``: each path's mean plus its emission noise.

    Args:
        means: ``K x S x B x T x O`` emission means of the paths.
        variances: Their aleatoric variances, same shape.
        center: ``B x T x O`` predictive mean.
        seed: Seeds the emission noise.
    """
    generator = torch.Generator().manual_seed(seed + 10_007)
    noise = torch.randn(means.shape, generator=generator)
    draws = means + noise * variances.clamp_min(0).sqrt()
    return (draws - center).reshape(means.shape[0] * means.shape[1], *means.shape[2:])


def _only(mask: Tensor, column: int) -> Tensor:
    """``mask`` (``B x T x O``) with every column but ``column`` cleared."""
    out = torch.zeros_like(mask)
    out[..., column] = mask[..., column]
    return out


def _best_factors(residual: Tensor, bounds: Tensor) -> Tensor:
    """The grid factors, inner then outer, whose scaled intervals cover ``residual`` at their levels.

    Residuals are heavy-tailed (a few designs far off), so one factor cannot set both the 50 %
    and the 90 % interval right; each interval gets its own.

    Args:
        residual: ``n`` observed minus predicted mean.
        bounds: ``4 x n`` unscaled deviation quantiles: the 50 % interval's, then the 90 %'s.

    Returns:
        ``2`` factors.
    """
    roots = _FACTOR_GRID.sqrt().view(-1, 1)
    factors = []
    for i, level in enumerate(_CALIBRATION_LEVELS):
        low, high = bounds[2 * i], bounds[2 * i + 1]
        covered = ((residual >= roots * low) & (residual <= roots * high)).to(torch.float32).mean(dim=1)
        factors.append(float(_FACTOR_GRID[int(torch.argmin((covered - level).abs()))]))
    return torch.tensor(factors)


def to_bytes(payload: dict[str, Any]) -> bytes:
    """Serialise a checkpoint payload (tensors and plain data) with ``torch.save``."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes) -> dict[str, Any]:
    """Read a checkpoint payload written by :func:`to_bytes` (plain data and tensors only)."""
    return torch.load(io.BytesIO(data), weights_only=True)
