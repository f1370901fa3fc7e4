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
from interphase.models.training import ProgressCallback, TrainConfig, epochs_for, fit_network

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
        self.variance_factors: Tensor | None = None  # O, one per observable, what predict applies

    def fit(self, batch: TrajectoryBatch, rows_for: Callable[[int], Tensor], *, warm: bool = False,
            progress: ProgressCallback | None = None) -> list[list[float]]:
        """Train every member.

        Args:
            batch: All records.
            rows_for: Member index → its training rows (a bootstrap sample, or all).
            warm: Continue from the current members for ``train.warm_epochs`` epochs
                instead of training new ones for ``train.epochs``.
            progress: Called after each optimiser step of any member.

        Returns:
            Each member's loss per epoch.
        """
        if not warm or len(self.members) != self.config.members:
            self.members = []
            for k in range(self.config.members):
                torch.manual_seed(self.config.seed + k)  # initial weights: the only global draw
                self.members.append(self.build_net())
        histories = []
        for k, net in enumerate(self.members):
            rows = rows_for(k)
            epochs = self.config.train.warm_epochs if warm else epochs_for(len(rows), self.config.train)
            seed = self.config.seed + 1000 * k + (7 if warm else 0)
            histories.append(fit_network(net, batch, rows, self.config.train, epochs=epochs, seed=seed,
                                         progress=progress))
        return histories

    @torch.no_grad()
    def member_samples(self, batch: TrajectoryBatch, horizon: int, n_samples: int,
                       prefix_cycles: Tensor | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Every member's latent paths.

        Returns:
            Emission means and aleatoric variances, each ``K x S x B x T x O``.
        """
        means, variances = [], []
        for k, net in enumerate(self.members):
            generator = torch.Generator().manual_seed(seed + k)
            mean, var = net.sample_trajectories(batch, horizon=horizon, n_samples=n_samples,
                                                prefix_cycles=prefix_cycles, generator=generator)
            means.append(mean)
            variances.append(var)
        return torch.stack(means), torch.stack(variances)

    def predict(self, batch: TrajectoryBatch, horizon: int, *, n_samples: int = 32,
                prefix_cycles: Tensor | None = None, levels: Sequence[float] = DEFAULT_LEVELS,
                seed: int = 0) -> Prediction:
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

        Returns:
            The prediction, calibrated if :meth:`calibrate` was run.
        """
        means, variances = self.member_samples(batch, horizon, n_samples, prefix_cycles, seed)
        member_mean = means.mean(dim=1)  # K x B x T x O
        member_aleatoric = variances.mean(dim=1) + means.var(dim=1, unbiased=False)
        mean = member_mean.mean(dim=0)
        factor = self._factor(mean.shape[-1])
        aleatoric = member_aleatoric.mean(dim=0) * factor
        epistemic = member_mean.var(dim=0, unbiased=False) * factor
        generator = torch.Generator().manual_seed(seed + 10_007)
        noise = torch.randn(means.shape, generator=generator)
        draws = means + noise * variances.clamp_min(0).sqrt()  # K x S x B x T x O
        draws = mean + (draws - mean) * factor.sqrt()
        flat = draws.reshape(-1, *draws.shape[2:])
        level_tensor = torch.tensor(list(levels), dtype=flat.dtype)
        quantiles = torch.quantile(flat, level_tensor, dim=0)
        return Prediction(mean=mean, aleatoric_std=aleatoric.sqrt(), epistemic_std=epistemic.sqrt(),
                          quantiles=quantiles, levels=level_tensor)

    @torch.no_grad()
    def feasibility(self, batch: TrajectoryBatch) -> tuple[Tensor, Tensor]:
        """Probability of failure: the members' mean and their spread, each ``B``."""
        probabilities = torch.stack([net.feasibility(batch) for net in self.members])
        return probabilities.mean(dim=0), probabilities.std(dim=0, unbiased=False)

    def _factor(self, n_observables: int) -> Tensor:
        """``O`` variance factors to apply (1.0 before calibration)."""
        if self.variance_factors is not None and self.variance_factors.numel() == n_observables:
            return self.variance_factors
        return torch.full((n_observables,), float(self.variance_factor))

    def calibrate(self, batch: TrajectoryBatch, horizon: int, *, n_samples: int = 16, seed: int = 0,
                  level: float = 0.9) -> float:
        """Fit one variance factor per observable on held-out records (post-hoc calibration).

        Each factor scales the predictive variance so that the central ``level`` interval
        holds ``level`` of that observable's held-out values: with standardised residuals
        ``z = |y - mean| / std``, the factor is ``(quantile(z, level) / z_level)^2``, where
        ``z_level`` is the standard normal's. Residuals are heavy-tailed (a few designs far
        off), so matching a quantile calibrates the intervals people read better than
        matching the mean of ``z^2``. An observable without held-out values gets the pooled
        factor.

        Returns:
            The pooled factor (1.0 means already calibrated).
        """
        self.variance_factor, self.variance_factors = 1.0, None
        prediction = self.predict(batch, horizon, n_samples=n_samples, seed=seed)
        steps = min(horizon, batch.y.shape[1])
        y, mask = batch.y[:, :steps], batch.y_mask[:, :steps] > 0
        z = (y - prediction.mean[:, :steps]).abs() / prediction.total_std[:, :steps].clamp_min(1e-12)
        target = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)))

        def factor(values: Tensor) -> float:
            return (float(torch.quantile(values, level)) / target) ** 2 if values.numel() else 1.0

        pooled = factor(z[mask])
        self.variance_factors = torch.tensor([factor(z[..., o][mask[..., o]]) if bool(mask[..., o].any())
                                              else pooled for o in range(z.shape[-1])])
        self.variance_factor = pooled
        return pooled

    def state(self) -> dict[str, Any]:
        """Everything needed to restore the members (with the config)."""
        return {"config": self.config.model_dump(mode="json"), "variance_factor": self.variance_factor,
                "variance_factors": self.variance_factors,
                "members": [net.state_dict() for net in self.members]}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore members saved by :meth:`state` (the nets are rebuilt with ``build_net``)."""
        self.variance_factor = float(state["variance_factor"])
        self.variance_factors = state.get("variance_factors")
        self.members = []
        for weights in state["members"]:
            net = self.build_net()
            net.load_state_dict(weights)
            net.eval()
            self.members.append(net)


def to_bytes(payload: dict[str, Any]) -> bytes:
    """Serialise a checkpoint payload (tensors and plain data) with ``torch.save``."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes) -> dict[str, Any]:
    """Read a checkpoint payload written by :func:`to_bytes` (plain data and tensors only)."""
    return torch.load(io.BytesIO(data), weights_only=True)
