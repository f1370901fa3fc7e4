"""The probability that a batch of tests yields a hit: at least one design meets every bound and runs.

``qProbabilityOfMeeting`` is a BoTorch Monte Carlo acquisition function over any model whose
posterior gives endpoint samples (the interphase ensemble through
``models.botorch_adapter.EndpointEnsembleModel``, or a GP). Per sample path, a design meets the
target with the smoothed indicator ``prod_b sigmoid((y_b - lower_b) / tau) sigmoid((upper_b -
y_b) / tau)``, times the probability it does not fail (``1 - sigmoid(logit)`` when a failure-logit
output is given); the batch's value is the sample mean of ``1 - prod_j (1 - meet_j)``. Pending
designs (tests already running) join every batch, so a new design is worth what it adds to them.

Two extensions serve a campaign that verifies a design with replicate cells:

- ``replicates = r``: a design counts only when ``r`` cells of it meet the target. Given a sample
  path (the design's true behaviour) the cells scatter independently (``tau``), so its value is
  ``meet_j ** r``. A design whose cells straddle the bound is then worth far less than one with
  margin, which a single cell's probability does not show.
- ``offset_std``: an uncertainty of the outputs the model does not know of (the spread of a
  correction learnt from few tests, say). It is shared by the replicate cells of a design, so it
  enters as ``draws`` stratified normal shifts of each sample path, not as cell noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                            category=DeprecationWarning)
    from botorch.acquisition.monte_carlo import MCAcquisitionFunction
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.models.model import Model
    from botorch.sampling.base import MCSampler
    from botorch.utils.transforms import concatenate_pending_points, t_batch_mode_transform


@dataclass(frozen=True)
class OutputBound:
    """A bound on one model output.

    Attributes:
        output: Index of the output among the model's ``m``.
        lower: Smallest acceptable value, or None.
        upper: Largest acceptable value, or None.
    """

    output: int
    lower: float | None = None
    upper: float | None = None


class qProbabilityOfMeeting(MCAcquisitionFunction):  # noqa: N801 - BoTorch's naming of q-batch acquisitions
    """``P(at least one of the q designs meets every bound and does not fail)``, by Monte Carlo.

    Args:
        model: A model with ``m`` outputs whose posterior can be sampled.
        bounds: The target's bounds on outputs.
        tau: Smoothing of the indicators, in the outputs' units (e.g. the aleatoric std of a
            cell's retention, which a noise-free sample path leaves out).
        failure_output: Output index of a failure logit, or None.
        sampler: The sampler (None: BoTorch's default for the posterior, which enumerates an
            ensemble's samples).
        X_pending: ``p x d`` designs already being tested.
        offset: ``batch x q x d -> batch x q x m`` shifts of the outputs the model does not know
            of (a correction learnt from the designs' neighbours, say); None for none.
        survival: ``batch x q x d -> batch x q`` probabilities that a design does not fail for
            causes the model does not know of; None for 1.
        offset_std: ``batch x q x d -> batch x q x m`` stds of a shift shared by a design's
            cells (zero for outputs it does not touch); None for none.
        replicates: Cells of one design that must all meet the target.
        draws: Stratified normal draws of the shared shift per sample path.
    """

    def __init__(self, model: Model, bounds: Sequence[OutputBound], *,
                 tau: float | Sequence[float] = 1e-3, failure_output: int | None = None,
                 sampler: MCSampler | None = None,
                 X_pending: Tensor | None = None,
                 offset: Callable[[Tensor], Tensor] | None = None,
                 survival: Callable[[Tensor], Tensor] | None = None,
                 offset_std: Callable[[Tensor], Tensor] | None = None,
                 replicates: int = 1, draws: int = 16) -> None:
        # The forward reads every output itself; the objective only satisfies BoTorch's check
        # that a multi-output model comes with one.
        super().__init__(model=model, sampler=sampler,
                         objective=GenericMCObjective(lambda Y, X=None: Y[..., 0]))
        self.bounds = list(bounds)
        taus = [float(tau)] * len(self.bounds) if isinstance(tau, int | float) else [float(t) for t in tau]
        self.taus = taus
        self.failure_output = failure_output
        self.offset = offset
        self.survival = survival
        self.offset_std = offset_std
        self.replicates = int(replicates)
        self.draws = int(draws)
        self.set_X_pending(X_pending)

    @concatenate_pending_points
    @t_batch_mode_transform()
    def forward(self, X: Tensor) -> Tensor:
        """Values of ``batch x q x d`` designs (pending ones appended): ``batch``."""
        posterior = self.model.posterior(X)
        samples = self.get_posterior_samples(posterior)  # sample x batch x q x m
        if self.offset is not None:
            samples = samples + self.offset(X).to(samples)
        if self.offset_std is not None:  # sample x draw x batch x q x m
            std = self.offset_std(X).to(samples)
            shift = shared_draws(self.draws, X.shape[-2]).to(samples)[:, None, :, None] * std.unsqueeze(0)
            samples = samples.unsqueeze(1) + shift.unsqueeze(0)
        meet = torch.ones(samples.shape[:-1], dtype=samples.dtype, device=samples.device)
        for bound, tau in zip(self.bounds, self.taus, strict=True):
            value = samples[..., bound.output]
            if bound.lower is not None:
                meet = meet * torch.sigmoid((value - bound.lower) / tau)
            if bound.upper is not None:
                meet = meet * torch.sigmoid((bound.upper - value) / tau)
        if self.failure_output is not None:
            meet = meet * torch.sigmoid(-samples[..., self.failure_output])
        if self.survival is not None:
            meet = meet * self.survival(X).to(meet)
        meet = meet ** self.replicates
        batch = 1.0 - torch.prod(1.0 - meet, dim=-1)
        return batch.reshape(-1, *batch.shape[-1:]).mean(dim=0)


def normal_quantiles(draws: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``draws`` stratified standard normal quantiles ``Phi^-1((k + 1/2) / draws)``."""
    levels = (torch.arange(draws, dtype=dtype) + 0.5) / draws
    return torch.distributions.Normal(0.0, 1.0).icdf(levels)


def shared_draws(draws: int, q: int) -> Tensor:
    """``draws x q`` :func:`normal_quantiles`, permuted per position.

    Every position of a batch gets the same stratified set, in an order fixed by the position, so
    designs of one batch draw their shifts independently and a batch scores the same every call.
    """
    quantiles = normal_quantiles(draws)
    columns = []
    for position in range(q):
        order = torch.randperm(draws, generator=torch.Generator().manual_seed(7919 + position))
        columns.append(quantiles[order] if position else quantiles)
    return torch.stack(columns, dim=-1)


def greedy_batch(acquisition: MCAcquisitionFunction, candidates: Tensor, q: int, costs: Tensor | None = None,
                 *, chunk: int = 512) -> tuple[list[int], list[float], Tensor]:
    """Pick ``q`` candidates one by one, each maximising its gain in the batch value per cost.

    The first pick maximises ``acq({x}) / cost(x)``; pick ``j`` maximises ``(acq(chosen + {x}) -
    acq(chosen)) / cost(x)``. Pending designs set on ``acquisition`` count in every batch. For a
    submodular value such as the probability of at least one hit this is the classic greedy
    batch, and it spreads the batch: a design next to one chosen adds little.

    Args:
        acquisition: Scores ``n x j x d`` batches (``n``).
        candidates: ``N x d`` designs to choose from.
        q: Picks (at most ``N``).
        costs: ``N`` positive costs (None: all 1).
        chunk: Candidates scored per call.

    Returns:
        ``(indices, gains, single)``: the chosen rows in order, each pick's gain in batch value,
        and ``N`` values of each candidate alone (for runners-up).
    """
    n = candidates.shape[0]
    costs = torch.ones(n, dtype=candidates.dtype) if costs is None else costs.to(candidates.dtype)
    chosen: list[int] = []
    gains: list[float] = []
    current = 0.0
    single = torch.zeros(n, dtype=candidates.dtype)
    for step in range(min(q, n)):
        values = torch.empty(n, dtype=candidates.dtype)
        base = candidates[chosen]
        with torch.no_grad():
            for start in range(0, n, chunk):
                part = candidates[start:start + chunk].unsqueeze(1)
                batch = torch.cat([base.unsqueeze(0).expand(part.shape[0], -1, -1), part], dim=1)
                values[start:start + chunk] = acquisition(batch).to(values.dtype)
        if step == 0:
            single = values.clone()
        gain = values - current
        if chosen:
            gain[chosen] = -torch.inf
        best = int(torch.argmax(gain / costs))
        chosen.append(best)
        gains.append(float(gain[best]))
        current = float(values[best])
    return chosen, gains, single
