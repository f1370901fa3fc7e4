"""Fitting one network of the ensemble: minibatch Adam on the masked ELBO, warm start, progress."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import BaseModel, ConfigDict, Field

from interphase.models.batch import TrajectoryBatch

ProgressCallback = Callable[[int, float], None]  # (steps done, latest loss)


class TrainConfig(BaseModel):
    """How networks are trained.

    Attributes:
        epochs: Passes over the (bootstrapped) training records for a fit from scratch.
        warm_epochs: Passes for a warm-started refit (a few new records).
        batch_size: Records per step.
        learning_rate: Adam's step size.
        weight_decay: Adam's L2 penalty.
        n_samples: Latent paths per record and step (Monte Carlo estimate of the ELBO).
        grad_clip: Largest gradient norm.
        min_steps: Fewest optimiser steps of a fit from scratch: a small data set gets more
            epochs, so that models fitted on less data are not simply less trained (0: none).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=150, ge=1, le=100_000)
    warm_epochs: int = Field(default=30, ge=1, le=100_000)
    batch_size: int = Field(default=64, ge=1, le=100_000)
    learning_rate: float = Field(default=3e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(default=1e-5, ge=0.0, le=1.0)
    n_samples: int = Field(default=1, ge=1, le=64)
    grad_clip: float = Field(default=10.0, gt=0.0)
    min_steps: int = Field(default=0, ge=0, le=10_000_000)


def steps_for(n_records: int, config: TrainConfig, epochs: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``n_records`` records."""
    per_epoch = max(1, -(-n_records // config.batch_size))
    return per_epoch * epochs


def epochs_for(n_records: int, config: TrainConfig) -> int:
    """Epochs of a fit from scratch: ``config.epochs``, or more to reach ``config.min_steps``."""
    per_epoch = max(1, -(-n_records // config.batch_size))
    return max(config.epochs, -(-config.min_steps // per_epoch))


def fit_network(net: torch.nn.Module, batch: TrajectoryBatch, rows: torch.Tensor, config: TrainConfig, *,
                epochs: int, seed: int, progress: ProgressCallback | None = None) -> list[float]:
    """Train ``net`` in place on the records ``rows`` of ``batch``.

    Args:
        net: An :class:`~interphase.models.generative.InterphaseNet` (its ``loss`` is minimised).
        batch: Every record (``B`` of them).
        rows: ``N`` record positions to train on (repeats allowed: a bootstrap sample).
        config: Optimiser settings.
        epochs: Passes over ``rows``.
        seed: Seeds the shuffling and the latent noise.
        progress: Called after each step with the steps done and the step's loss.

    Returns:
        The mean loss of each epoch.
    """
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    net.train()
    history: list[float] = []
    done = 0
    for _ in range(epochs):
        order = rows[torch.randperm(len(rows), generator=generator)]
        losses = []
        for start in range(0, len(order), config.batch_size):
            part = batch.index(order[start:start + config.batch_size])
            loss, _ = net.loss(part, n_samples=config.n_samples, generator=generator)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            optimiser.step()
            losses.append(float(loss.detach()))
            done += 1
            if progress is not None:
                progress(done, losses[-1])
        history.append(sum(losses) / len(losses))
    net.eval()
    return history
