"""Fitting the ensemble's networks together: minibatch Adam on the masked ELBO, warm start, progress."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from interphase.models.batch import TrajectoryBatch

ProgressCallback = Callable[[int, float], None]  # (steps done, latest loss)


class TrainConfig(BaseModel):
    """How networks are trained.

    Attributes:
        epochs: Passes over the (bootstrapped) training records for a fit from scratch.
        warm_epochs: Passes for a warm-started refit (a few new records).
        batch_size: Records per step.
        learning_rate: Adam's step size.
        weight_decay: AdamW's decoupled weight decay (per step, times the learning rate).
        n_samples: Latent paths per record and step (Monte Carlo estimate of the ELBO).
        grad_clip: Largest gradient norm.
        min_steps: Fewest optimiser steps of a fit from scratch: a small data set gets more
            epochs, so that models fitted on less data are not simply less trained (0: none).
        anneal_share: Share of a fit's last steps over which the step size falls, on a
            cosine, from ``learning_rate`` to ``learning_rate * final_lr_share`` (0: constant).
            At a constant step size the weights end wherever minibatch and latent noise last
            pushed them, so members disagree by optimiser noise, which grows with the number
            of minibatches (the data), and reads as epistemic uncertainty that rises with data.
        final_lr_share: Step size at the last step, as a share of ``learning_rate``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=150, ge=1, le=100_000)
    warm_epochs: int = Field(default=30, ge=1, le=100_000)
    batch_size: int = Field(default=64, ge=1, le=100_000)
    learning_rate: float = Field(default=1e-2, gt=0.0, le=1.0)
    weight_decay: float = Field(default=1e-5, ge=0.0, le=1.0)
    n_samples: int = Field(default=1, ge=1, le=64)
    grad_clip: float = Field(default=10.0, gt=0.0)
    min_steps: int = Field(default=0, ge=0, le=10_000_000)
    anneal_share: float = Field(default=0.3, ge=0.0, le=1.0)
    final_lr_share: float = Field(default=0.05, gt=0.0, le=1.0)


def steps_for(n_records: int, config: TrainConfig, epochs: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``n_records`` records."""
    per_epoch = max(1, -(-n_records // config.batch_size))
    return per_epoch * epochs


def step_size_factor(step: int, total: int, config: TrainConfig) -> float:
    """Multiplier of ``config.learning_rate`` at optimiser step ``step`` (0-based) of ``total``.

    1.0 until the last ``ceil(anneal_share * total)`` steps, over which it falls on a cosine
    to ``final_lr_share`` at the last step.
    """
    annealed = math.ceil(config.anneal_share * total)
    start = total - annealed
    if annealed <= 1 or step <= start:
        return 1.0
    progress = min(1.0, (step - start) / (annealed - 1))
    low = config.final_lr_share
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * progress))


def epochs_for(n_records: int, config: TrainConfig) -> int:
    """Epochs of a fit from scratch: ``config.epochs``, or more to reach ``config.min_steps``."""
    per_epoch = max(1, -(-n_records // config.batch_size))
    return max(config.epochs, -(-config.min_steps // per_epoch))


class _LossTerms(torch.nn.Module):
    """A member seen by ``torch.func.functional_call``: its forward is ``net.loss_terms``."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: TrajectoryBatch, n_samples: int, generator: torch.Generator) -> Tensor:
        return self.net.loss_terms(batch, n_samples=n_samples, generator=generator)["total"]


def fit_members(members: Sequence[torch.nn.Module], batch: TrajectoryBatch, weights: Tensor,
                config: TrainConfig, *, epochs: int, seed: int,
                progress: ProgressCallback | None = None) -> list[list[float]]:
    """Train ``K`` networks in place, all at once, each on its own weighting of the records.

    The members' parameters are stacked and their losses evaluated in one vectorised pass
    (``torch.func.vmap`` over ``functional_call``), so K members cost little more than one:
    the sequential rollout, not the arithmetic, dominates. Every minibatch is shared; member
    ``k`` weighs record ``i`` by ``weights[k, i]`` (a bootstrap count), so a member trains on
    its bootstrap sample in expectation. Latent noise is common to the members (the members
    differ in their initial weights and their data). Adam is elementwise, and gradients are
    clipped per member, so the members train exactly as they would apart. The step size
    holds at ``config.learning_rate`` and falls over the last ``config.anneal_share`` of the
    steps (:func:`step_size_factor`), for warm refits too.

    Args:
        members: ``K`` networks of one architecture (each an ``InterphaseNet``).
        batch: Every record (``B`` of them).
        weights: ``K x B`` non-negative record weights; records no member weighs are skipped.
        config: Optimiser settings.
        epochs: Passes over the weighted records.
        seed: Seeds the shuffling and the latent noise.
        progress: Called after each step with the steps done and the members' mean loss.

    Returns:
        Each member's weighted mean loss per epoch.
    """
    from torch.func import functional_call, stack_module_state, vmap

    wrapped = [_LossTerms(net) for net in members]
    params, buffers = stack_module_state(wrapped)
    skeleton = copy.deepcopy(wrapped[0]).to("meta").train()
    generator = torch.Generator().manual_seed(seed)
    # AdamW: decoupled weight decay. Adam with an L2 term moves every weight with no data gradient
    # by about the learning rate each step (Adam normalises the tiny decay gradient), which erases
    # in a few hundred steps the random prior offsets of sources the data never showed.
    optimiser = torch.optim.AdamW(list(params.values()), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    rows = torch.nonzero(weights.sum(dim=0) > 0).squeeze(-1)
    n_members = len(members)
    total_steps = steps_for(len(rows), config, epochs)

    def member_terms(member_params: dict[str, Tensor], member_buffers: dict[str, Tensor],
                     part: TrajectoryBatch) -> Tensor:
        return functional_call(skeleton, (member_params, member_buffers), (part, config.n_samples, generator))

    batched = vmap(member_terms, in_dims=(0, 0, None), randomness="same")
    for net in members:
        net.train()
    history: list[list[float]] = [[] for _ in range(n_members)]
    done = 0
    for _ in range(epochs):
        order = rows[torch.randperm(len(rows), generator=generator)]
        sums, counts = torch.zeros(n_members), torch.zeros(n_members)
        for start in range(0, len(order), config.batch_size):
            index = order[start:start + config.batch_size]
            part, part_weights = batch.index(index), weights[:, index]
            totals = batched(params, buffers, part)  # K x b
            member_sums = (totals * part_weights).sum(dim=1)
            member_counts = part_weights.sum(dim=1)
            loss = (member_sums / member_counts.clamp(min=1e-12)).sum()
            optimiser.zero_grad()
            loss.backward()
            _clip_per_member(list(params.values()), config.grad_clip)
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate * step_size_factor(done, total_steps, config)
            optimiser.step()
            sums += member_sums.detach()
            counts += member_counts
            done += 1
            if progress is not None:
                progress(done, float(loss.detach()) / n_members)
        for k in range(n_members):
            history[k].append(float(sums[k] / counts[k].clamp(min=1e-12)))
    with torch.no_grad():
        for k, net in enumerate(wrapped):
            for name, value in net.named_parameters():
                value.copy_(params[name][k])
    for net in members:
        net.eval()
    return history


def _clip_per_member(stacked: list[Tensor], max_norm: float) -> None:
    """Scale each member's gradient (slice ``k`` of every stacked parameter) to norm <= ``max_norm``."""
    grads = [p.grad for p in stacked if p.grad is not None]
    if not grads:
        return
    squared = torch.stack([g.reshape(g.shape[0], -1).pow(2).sum(dim=1) for g in grads]).sum(dim=0)
    scale = (max_norm / (squared.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
