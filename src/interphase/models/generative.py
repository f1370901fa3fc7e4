"""``InterphaseNet``: the semi-supervised deep generative model of designs and their trajectories.

Generative story for a record (design ``x``, source ``s``, controls ``u``)::

    z0 ~ N(0, I)                                           design latent
    x | z0 ~ DesignVAE decoder                             mixed continuous / categorical
    z(j+1) = z(j) + f(z(j), u_j, e_s) + sigma * eps        latent Markov dynamics, a step per
                                                           stride cycles (z(0) = z0), interpolated
    y(t) | z(t) ~ N(physics(h(z(t), u(t)) under s), std^2) per-cycle emissions
    cond_y(c) | z0 ~ N(g(z0, e_s, c), std_c^2)             condition-indexed emissions
    fail | z0, x, s, u ~ Bernoulli(sigmoid(feasibility))

Inference uses ``q(z0 | x * x_mask, x_mask)`` and, for a record conditioned on its first ``k``
cycles, a correction ``q(delta | prefix, z(j))`` added to the state at knot ``j = floor(k /
stride)``, the last within the prefix, and a drift added at every later knot (prior
``N(0, prefix_prior_std^2 I)``; see ``dynamics.PrefixFilter``). Training draws no prefix for
half the records and a random one for the others, so the same network forecasts untested
designs and running tests.

Shapes: ``S`` samples, ``B`` records, ``T`` cycles, ``D`` features, ``L`` latent size, ``U``
controls, ``O`` per-cycle observables, ``C`` conditions, ``Oc`` condition-indexed observables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interphase.models.batch import TrajectoryBatch
from interphase.models.config import NetConfig
from interphase.models.dynamics import LatentDynamics, PrefixFilter, StateUpdate, interpolation_matrix
from interphase.models.heads import ConditionEmission, EmissionHeads, FeasibilityHead, SourceEmbedding
from interphase.models.network import (
    RandomPrior,
    gaussian_nll,
    kl_to_centred_normal,
    standard_normal,
    zero_where_missing,
)
from interphase.models.physics import PhysicsConstraints, kind_of
from interphase.models.vae import DesignVAE
from interphase.schema.errors import InvalidInputError


def _vector(values: Tensor | Sequence[float] | None, length: int, name: str) -> Tensor:
    if values is None:
        if length:
            raise InvalidInputError(name, f"is required for {length} observables")
        return torch.zeros(0)
    vector = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    if vector.numel() != length:
        raise InvalidInputError(name, f"needs {length} entries, got {vector.numel()}")
    return vector


def _draw(mean: Tensor, logvar: Tensor, n_samples: int, generator: torch.Generator | None) -> Tensor:
    """``S x B x L`` reparameterised draws from ``N(mean, exp(logvar))`` (``B x L`` each)."""
    return mean + (0.5 * logvar).exp() * standard_normal((n_samples, *mean.shape), mean, generator)


class InterphaseNet(nn.Module):
    """The VAE, latent dynamics, run-effect encoder and heads, wired together.

    Args:
        config: Architecture and loss weights.
        n_features: ``D``.
        categorical_slices: One-hot blocks ``[start, stop)`` of the design vector.
        n_sources: Sources in the vocabulary, the last being ``"<none>"`` (no result).
        n_controls: ``U``.
        observables: Names of the ``O`` per-cycle observables (their bounds follow the name).
        cond_observables: Names of the ``Oc`` condition-indexed observables.
        y_loc: ``O`` typical value of each observable (canonical units).
        y_scale: ``O`` typical spread (canonical units, > 0); residuals are divided by it so
            that observables weigh alike.
        cond_loc: ``Oc`` typical values of the condition-indexed observables.
        cond_scale: ``Oc`` typical spreads.
        conditions: ``C`` condition values of ``cond_y``'s axis in the training batches (e.g.
            temperatures in K); their mean and std normalise conditions for the network.
            Required when there are condition-indexed observables.

    Raises:
        InvalidInputError: On inconsistent sizes or a missing ``conditions``.

    """

    def __init__(self, config: NetConfig, n_features: int, categorical_slices: Sequence[tuple[int, int]],
                 n_sources: int, n_controls: int, observables: Sequence[str], cond_observables: Sequence[str],
                 y_loc: Tensor, y_scale: Tensor, cond_loc: Tensor | None = None,
                 cond_scale: Tensor | None = None, *, conditions: Tensor | None = None) -> None:
        super().__init__()
        if n_sources < 1 or n_features < 1 or n_controls < 0:
            raise InvalidInputError("n_sources", "needs n_sources >= 1, n_features >= 1, n_controls >= 0")
        self.config = config
        self.observables = list(observables)
        self.cond_observables = list(cond_observables)
        self.n_controls = n_controls
        c = config
        y_constraints = PhysicsConstraints(
            [kind_of(name, c.physics) for name in self.observables],
            _vector(y_loc, len(self.observables), "y_loc"),
            _vector(y_scale, len(self.observables), "y_scale"),
            sequential=True, typical_cycles=c.typical_cycles / c.cycle_stride)
        cond_constraints = PhysicsConstraints(
            [kind_of(name, c.physics) for name in self.cond_observables],
            _vector(cond_loc, len(self.cond_observables), "cond_loc"),
            _vector(cond_scale, len(self.cond_observables), "cond_scale"), sequential=False)
        grid = torch.zeros(0) if conditions is None else torch.as_tensor(conditions, dtype=torch.float32)
        if self.cond_observables and grid.numel() == 0:
            raise InvalidInputError("conditions", "the condition grid is required with cond_observables")
        spread = grid.std() if grid.numel() > 1 else torch.tensor(0.0)
        self.register_buffer("condition_grid", grid.reshape(-1))
        self.register_buffer("condition_center", grid.mean() if grid.numel() else torch.tensor(0.0))
        self.register_buffer("condition_spread", spread if spread > 0 else torch.tensor(1.0))

        self.vae = DesignVAE(n_features, categorical_slices, c.latent_dim, c.hidden, c.depth,
                             c.design_min_std, c.dropout)
        self.sources = SourceEmbedding(n_sources, c.source_embedding_dim, y_constraints.n_channels,
                                       y_constraints.n_observables, c.source_prior_std)
        self.dynamics = LatentDynamics(c.latent_dim, n_controls, c.source_embedding_dim, c.hidden, c.depth,
                                       c.transition, c.min_std, c.initial_process_std, c.cycle_stride,
                                       c.dropout, design_dim=2 * n_features if c.design_context else 0)
        self.emission = EmissionHeads(c.latent_dim, n_controls, c.hidden, c.depth, y_constraints, c.min_std,
                                      c.dropout)
        # No head without condition-indexed observables (a zero-width layer only warns).
        self.condition_emission = ConditionEmission(c.latent_dim, c.source_embedding_dim, c.hidden, c.depth,
                                                    cond_constraints, c.min_std, c.dropout
                                                    ) if self.cond_observables else None
        self.prefix_filter = PrefixFilter(len(self.observables), n_controls, c.source_embedding_dim,
                                          c.latent_dim, c.hidden, c.depth, c.prefix_prior_std,
                                          c.typical_cycles, c.dropout)
        cond_channels = cond_constraints.n_channels if self.cond_observables else 0
        self._prior_split = [y_constraints.n_channels, cond_channels, 1]
        self.prior = (RandomPrior(2 * n_features, sum(self._prior_split), c.prior_scale)
                      if c.prior_scale > 0 else None)
        self.feasibility_head = FeasibilityHead(c.latent_dim, n_features, c.source_embedding_dim, n_controls,
                                                c.hidden, c.depth, c.dropout)

    # ------------------------------------------------------------------ design
    def encode(self, x: Tensor, x_mask: Tensor) -> tuple[Tensor, Tensor]:
        """``q(z0 | x, mask)``: ``(mean, logvar)``, each ``B x L``, from ``B x D`` inputs."""
        return self.vae.encode(x, x_mask)

    def decode(self, z: Tensor, *, probabilities: bool = False) -> Tensor:
        """``... x D`` features from ``... x L`` latents.

        Categorical blocks are the one-hot of their argmax, or their softmax probabilities with
        ``probabilities=True``; continuous columns are the decoder's mean.
        """
        return self.vae.decode(z, probabilities=probabilities)

    def inpaint(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """``B x D`` designs with the entries where ``x_mask == 0`` filled by the decoder."""
        return self.vae.inpaint(x, x_mask)

    def sample_designs(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n x D`` designs decoded from prior draws of z0 (categorical blocks one-hot)."""
        return self.decode(self.vae.sample_prior(n, self.vae.raw_std, generator))

    # ------------------------------------------------------------------ predictions
    def sample_trajectories(self, batch: TrajectoryBatch, *, horizon: int, n_samples: int,
                            prefix_cycles: Tensor | None = None, cycles: Tensor | None = None,
                            columns: Sequence[int] | None = None,
                            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Sampled emission moments over ``horizon`` cycles (or at some of them).

        Each sample draws z0 from ``q(z0 | x)``, a latent path with process noise and, with a
        prefix, the correction; the returned moments are those of the emission given that
        path. Controls past ``batch.u``'s last position repeat its last cycle. Call under
        ``torch.no_grad()`` unless gradients (e.g. with respect to ``batch.x``) are wanted.

        Args:
            batch: ``B`` records.
            horizon: Cycles to predict (position ``t`` is cycle ``t + 1``).
            n_samples: ``S``.
            prefix_cycles: ``B`` (long) cycles of each record's observed ``y`` to condition on
                (clamped to its ``cycles``; 0 for none). The correction acts from the last knot
                within the prefix on.
            cycles: ``n`` (long) cycle numbers in ``[1, horizon]`` to return instead of every
                cycle; the emission heads then run at the knots those cycles need only (all
                knots up to the last one for a non-decreasing observable). For endpoints of
                many designs.
            columns: Positions of the ``O'`` observables to return (None: all ``O``); fewer
                columns spare the heads at knots no wanted cycle needs.
            generator: Source of every draw.

        Returns:
            ``(mean, var)``, each ``S x B x horizon x O`` (``n`` cycles with ``cycles``, ``O'``
            observables with ``columns``):
            emission mean (canonical units, within the physics bounds) and aleatoric variance
            (canonical units squared).

        """
        z0 = self._code(batch, n_samples)
        embedding = self.sources(batch.source)
        prefix = self._clamp_prefix(batch, prefix_cycles)
        steps = max(horizon, int(prefix.max()) if prefix.numel() else 0)
        knots, u, _ = self._rollout(batch, z0, embedding, steps, prefix, generator)
        wanted = torch.arange(1, horizon + 1) if cycles is None else cycles.long()
        if wanted.numel() and (int(wanted.min()) < 1 or int(wanted.max()) > horizon):
            raise InvalidInputError("cycles", f"must lie in [1, {horizon}]")
        mean, std = self._emit(knots, u, batch.source, steps, wanted, columns, design=self._design(batch))
        scale = self.emission.constraints.scale
        scale = scale if columns is None else scale[list(columns)]
        return mean, (std * scale) ** 2

    def sample_conditions(self, batch: TrajectoryBatch, conditions: Tensor, n_samples: int,
                          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Sampled moments of the condition-indexed observables.

        Args:
            batch: ``B`` records.
            conditions: ``C`` condition values in the units of the constructor's grid.
            n_samples: ``S``.
            generator: Source of the z0 draws.

        Returns:
            ``(mean, var)``, each ``S x B x C x Oc`` in canonical units (squared for ``var``).

        """
        z0 = self._code(batch, n_samples)
        if self.condition_emission is None:
            empty = torch.zeros(z0.shape[0], len(batch), conditions.numel(), 0)
            return empty, empty.clone()
        mean, std = self.condition_emission(z0, self.sources(batch.source), self._normalise(conditions),
                                            self._prior_shift(self._design(batch), 1))
        return mean, (std * self.condition_emission.constraints.scale) ** 2

    def feasibility(self, batch: TrajectoryBatch) -> Tensor:
        """``B`` probability of failure, at the posterior mean of z0."""
        mean, _ = self.encode(batch.x, batch.x_mask)
        logits = self._failure_logits(batch, mean.unsqueeze(0), self.sources(batch.source))
        return torch.sigmoid(logits.squeeze(0))

    # ------------------------------------------------------------------ training
    def loss_terms(self, batch: TrajectoryBatch, *, n_samples: int = 1, prefix_cycles: Tensor | None = None,
                   generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The terms of the masked negative ELBO and the feasibility cross-entropy, per record.

        Per record: ``design_weight * (-log p(x_known | z0)) + kl_weight * (KL_z0 + KL_prefix)
        + sum over observed (t, o) of -log N(y | mean, std^2) in units of y_scale + the same for
        cond_y + feasibility_weight * BCE(failed)``, each averaged over ``n_samples`` draws.
        Records without a result contribute only the design terms. Without ``prefix_cycles``
        each record is conditioned on a random prefix (see ``NetConfig.max_prefix_fraction``).
        Works under ``torch.func.vmap`` over the
        parameters (no value of a parameter decides any control flow).

        Args:
            batch: ``B`` records.
            n_samples: ``S`` Monte Carlo draws.
            prefix_cycles: ``B`` (long) prefix lengths, or None for random ones.
            generator: Source of every draw.

        Returns:
            ``B`` tensors ``design``, ``kl_design``, ``observation``, ``condition``, ``kl_prefix``,
            ``feasibility`` and their weighted sum ``total``.

        """
        c = self.config
        has_result = batch.has_result.to(torch.float32)
        mean, logvar = self.encode(batch.x, batch.x_mask)
        design = -self.vae.log_likelihood(batch.x, batch.x_mask, _draw(mean, logvar, n_samples, generator)
                                          ).mean(dim=0)
        kl_design = kl_to_centred_normal(mean, logvar)
        z0 = mean.unsqueeze(0).expand(n_samples, -1, -1)  # trajectories start from the code of x
        embedding = self.sources(batch.source)

        zeros = torch.zeros_like(design)
        observation, kl_prefix = zeros, zeros
        labelled_cycles = batch.cycles * (batch.has_result > 0).long()
        horizon = min(int(labelled_cycles.max()) if len(batch) else 0, batch.u.shape[1])
        # Only records with results are rolled out: designs without any cost nothing here.
        labelled = torch.nonzero(batch.has_result > 0).squeeze(-1)
        if horizon > 0 and self.observables and len(labelled) > 0:
            sub = batch.index(labelled)
            prefix = self._random_prefix(sub, generator) if prefix_cycles is None else prefix_cycles[labelled]
            prefix = self._clamp_prefix(sub, prefix)
            start = z0[:, labelled]
            if prefix_cycles is None and c.design_dropout > 0:
                sub, start = self._drop_design(sub, prefix, n_samples, generator)
            knots, u, kl_paths = self._rollout(sub, start, embedding[labelled], horizon, prefix, generator)
            kl_prefix = zeros.index_put((labelled,), kl_paths.mean(dim=0))
            y_mean, y_std = self._emit(knots, u, sub.source, horizon, None, design=self._design(sub))
            observed = self._observed(sub, horizon)
            y_scale = self.emission.constraints.scale
            residual = (zero_where_missing(sub.y[:, :horizon], observed) - y_mean) / y_scale
            per_record = (gaussian_nll(residual, y_std) * observed).sum(dim=(-1, -2)).mean(dim=0)
            observation = zeros.index_put((labelled,), per_record)

        condition = zeros
        if self.condition_emission is not None and batch.cond_y.shape[1] > 0:
            if batch.cond_y.shape[1] != self.condition_grid.numel():
                raise InvalidInputError("batch.cond_y", f"has {batch.cond_y.shape[1]} conditions, "
                                        f"the model's grid {self.condition_grid.numel()}")
            c_mean, c_std = self.condition_emission(z0, embedding, self._normalise(self.condition_grid),
                                                    self._prior_shift(self._design(batch), 1))
            observed_c = batch.cond_mask * has_result.view(-1, 1, 1)
            c_scale = self.condition_emission.constraints.scale
            residual = (zero_where_missing(batch.cond_y, observed_c) - c_mean) / c_scale
            condition = (gaussian_nll(residual, c_std) * observed_c).sum(dim=(-1, -2)).mean(dim=0)

        logits = self._failure_logits(batch, z0, embedding)
        bce = F.binary_cross_entropy_with_logits(
            logits, batch.failed.to(logits.dtype).expand_as(logits), reduction="none").mean(dim=0)
        feasibility = bce * has_result

        total = (c.design_weight * design + c.kl_weight * (c.design_kl_weight * kl_design + kl_prefix)
                 + observation + condition + c.feasibility_weight * feasibility)
        return {"design": design, "kl_design": kl_design, "observation": observation, "condition": condition,
                "kl_prefix": kl_prefix, "feasibility": feasibility, "total": total}

    def loss(self, batch: TrajectoryBatch, *, n_samples: int = 1, prefix_cycles: Tensor | None = None,
             generator: torch.Generator | None = None,
             weights: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """The (weighted) mean over records of :meth:`loss_terms`' total.

        Args:
            batch: ``B`` records.
            n_samples: ``S`` Monte Carlo draws.
            prefix_cycles: ``B`` (long) prefix lengths, or None for random ones.
            generator: Source of every draw.
            weights: ``B`` non-negative record weights (e.g. bootstrap counts); None for 1.

        Returns:
            ``(loss, parts)``: the scalar loss and the weighted means of its terms as floats
            (``design``, ``kl_design``, ``observation``, ``condition``, ``kl_prefix``,
            ``feasibility``), plus ``loss``.

        """
        terms = self.loss_terms(batch, n_samples=n_samples, prefix_cycles=prefix_cycles, generator=generator)
        means = weighted_means(terms, weights)
        loss = means.pop("total")
        parts = {name: float(value.detach()) for name, value in means.items()}
        parts["loss"] = float(loss.detach())
        return loss, parts

    # ------------------------------------------------------------------ internals
    def _normalise(self, conditions: Tensor) -> Tensor:
        return (conditions.to(torch.float32) - self.condition_center) / self.condition_spread

    def _code(self, batch: TrajectoryBatch, n_samples: int) -> Tensor:
        """``S x B x L``: the posterior mean of z0 for every sample (what the dynamics start from)."""
        mean, _ = self.encode(batch.x, batch.x_mask)
        return mean.unsqueeze(0).expand(n_samples, -1, -1)

    @staticmethod
    def _design(batch: TrajectoryBatch) -> Tensor:
        """``B x 2D``: the design features (0 where missing) and their mask."""
        return torch.cat([zero_where_missing(batch.x, batch.x_mask), batch.x_mask], dim=-1)

    def _failure_logits(self, batch: TrajectoryBatch, z0: Tensor, embedding: Tensor) -> Tensor:
        """``S x B`` failure logits from ``S x B x L`` design latents."""
        design = self._design(batch)
        logits = self.feasibility_head(z0, design, embedding, self._mean_controls(batch))
        shift = self._prior_shift(design, 2)
        return logits if shift is None else logits + shift.view(1, -1)

    def _prior_shift(self, design: Tensor | None, part: int) -> Tensor | None:
        """``B x width`` of the random prior for the emission (0), condition (1) or failure (2) outputs."""
        if self.prior is None or design is None or self._prior_split[part] == 0:
            return None
        return self.prior(design).split(self._prior_split, dim=-1)[part]

    def _controls(self, batch: TrajectoryBatch, horizon: int) -> Tensor:
        """``B x horizon x U``: ``batch.u`` cut or extended by repeating its last cycle."""
        u = batch.u
        if horizon <= u.shape[1]:
            return u[:, :horizon]
        if u.shape[1] == 0:
            if u.shape[2] == 0:
                return u.new_zeros((u.shape[0], horizon, 0))
            raise InvalidInputError("batch.u", "needs at least one cycle of controls to extend")
        return torch.cat([u, u[:, -1:].expand(-1, horizon - u.shape[1], -1)], dim=1)

    def _mean_controls(self, batch: TrajectoryBatch) -> Tensor:
        """``B x U`` controls averaged over positions ``< cycles`` (all of ``u`` when cycles is 0)."""
        positions = torch.arange(batch.u.shape[1], device=batch.u.device)
        planned = (positions < batch.cycles.unsqueeze(1)) | (batch.cycles.unsqueeze(1) == 0)
        weights = planned.to(batch.u.dtype).unsqueeze(-1)
        return (batch.u * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def _observed(self, batch: TrajectoryBatch, horizon: int) -> Tensor:
        """``B x horizon x O`` mask of observed entries within each record's cycles."""
        positions = torch.arange(horizon, device=batch.y.device)
        within = (positions < batch.cycles.unsqueeze(1)).to(batch.y_mask.dtype).unsqueeze(-1)
        return batch.y_mask[:, :horizon] * within

    def _random_prefix(self, batch: TrajectoryBatch, generator: torch.Generator | None) -> Tensor:
        """``B`` (long) prefix lengths, 0 with ``no_prefix_probability`` and else uniform.

        The non-zero lengths are uniform in ``[1, max(1, floor(max_prefix_fraction * cycles))]``.
        """
        longest = torch.clamp(torch.floor(self.config.max_prefix_fraction * batch.cycles.to(torch.float32)),
                              min=1.0)
        draws = torch.rand((2, *batch.cycles.shape), generator=generator, device=batch.cycles.device)
        prefix = 1 + torch.floor(draws[0] * longest).long()
        return torch.where(draws[1] < self.config.no_prefix_probability, torch.zeros_like(prefix), prefix)

    def _drop_design(self, batch: TrajectoryBatch, prefix: Tensor, n_samples: int,
                     generator: torch.Generator | None) -> tuple[TrajectoryBatch, Tensor]:
        """Hide half the design features of a share of the records that are conditioned on a prefix.

        The forecast of such a record must then come from its first cycles more than from its
        design, which teaches the prefix filter how early cycles foretell later ones from every
        source (the simulators' designs span the fade rates, a few lab cells would not). A lab
        cell is such a record: its hidden offsets and spread make its design tell less.

        Returns:
            The records with the hidden features masked, and their ``S x B x L`` codes.
        """
        draws = torch.rand((2, *batch.x.shape), generator=generator, device=batch.x.device)
        chosen = (draws[0, :, :1] < self.config.design_dropout) & (prefix > 0).unsqueeze(-1)
        mask = batch.x_mask * ~(chosen & (draws[1] < 0.5))
        hidden = dataclasses.replace(batch, x_mask=mask.to(batch.x_mask.dtype))
        mean, _ = self.encode(hidden.x, hidden.x_mask)
        return hidden, mean.unsqueeze(0).expand(n_samples, -1, -1)

    def _clamp_prefix(self, batch: TrajectoryBatch, prefix: Tensor | None) -> Tensor:
        if prefix is None:
            return torch.zeros_like(batch.cycles)
        limit = torch.clamp(batch.cycles, max=batch.y.shape[1]) * (batch.has_result > 0).long()
        return torch.minimum(prefix.long().clamp(min=0), limit)

    def _rollout(self, batch: TrajectoryBatch, z0: Tensor, embedding: Tensor, horizon: int, prefix: Tensor,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """Latent paths at the knots, the controls, and the KL of the prefix corrections.

        Returns:
            ``S x B x (J + 1) x L`` knot states, ``B x horizon x U`` controls and ``S x B`` KL.
        """
        u = self._controls(batch, horizon)
        update: StateUpdate | None = None
        corrections: list[Tensor] = []
        if bool((prefix > 0).any()) and self.observables:
            known = int(prefix.max())
            observed = self._observed(batch, known)
            constraints = self.emission.constraints
            scaled = (zero_where_missing(batch.y[:, :known], observed) - constraints.loc) / constraints.scale
            summary = self.prefix_filter.summarise(scaled, observed, u[:, :known], embedding, prefix)
            # The last knot within the prefix: knot j is the state after cycle j * stride.
            knot = torch.where(prefix > 0, prefix // self.config.cycle_stride, torch.full_like(prefix, -1))
            width = z0.shape[-1]
            draws = standard_normal((z0.shape[0], len(batch), 2 * width), z0, generator)
            drift = [z0.new_zeros(z0.shape)]  # per record, added at every knot after its prefix

            def update(j: int, z: Tensor) -> Tensor:
                z = z + drift[0]
                hit = knot == j
                if not bool(hit.any()):
                    return z
                mean, logvar = self.prefix_filter.correction(summary, z)
                delta = mean + (0.5 * logvar).exp() * draws
                corrections.append(self.prefix_filter.kl(mean, logvar) * hit.to(z.dtype))
                chosen = hit.view(1, -1, 1)
                drift[0] = torch.where(chosen, delta[..., width:], drift[0])
                return torch.where(chosen, z + delta[..., :width], z)

        design = self._design(batch) if self.config.design_context else None
        drive = embedding if self.config.source_in_dynamics else torch.zeros_like(embedding)
        knots = self.dynamics.rollout_knots(z0, u, drive, generator=generator, update=update,
                                            design=design)
        kl = torch.stack(corrections).sum(dim=0) if corrections else z0.new_zeros(z0.shape[:2])
        return knots, u, kl

    def _emit(self, knots: Tensor, u: Tensor, source: Tensor, horizon: int, cycles: Tensor | None,
              columns: Sequence[int] | None = None, design: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Emission moments on cycles from knot states.

        The heads and the physics maps act at the knots (a non-decreasing observable
        accumulates its increments from knot to knot), and the bounded means and stds are
        interpolated linearly onto cycles, which keeps every bound.

        Args:
            knots: ``S x B x (J + 1) x L``.
            u: ``B x horizon x U`` controls.
            source: ``B`` (long).
            horizon: Cycles the knots cover.
            cycles: ``n`` (long) cycle numbers wanted, or None for ``1 .. horizon``.
            columns: The ``O'`` observables (positions) wanted; None for all. The heads run at
                the knots the wanted cycles need, or at every knot up to the last of them when
                a wanted observable is non-decreasing.
            design: ``B x 2D`` design inputs of the random prior (None: no prior).

        Returns:
            ``(mean, std)``, each ``S x B x n x O'`` (``n = horizon`` without ``cycles``): the
            mean in canonical units, the std in scaled units.
        """
        kinds = self.emission.constraints.kinds
        columns = list(range(len(kinds))) if columns is None else list(columns)
        weights = interpolation_matrix(horizon, self.config.cycle_stride).to(knots)
        if cycles is not None:
            weights = weights[cycles - 1]
        used = weights.abs().sum(dim=0) > 0
        growing = [i for i, o in enumerate(columns) if kinds[o] == "nondecreasing"]
        if growing and bool(used.any()):
            used[: int(torch.nonzero(used).max()) + 1] = True  # increments add up from knot 0
        index = torch.nonzero(used).squeeze(-1)
        controls = self.dynamics.knot_controls(u)[:, index]
        raw = self.emission.raw(knots[:, :, index], controls)
        shift = self._prior_shift(design, 0)
        if shift is not None:
            channels = shift.shape[-1]
            raw = torch.cat([raw[..., :channels] + shift.view(1, shift.shape[0], 1, channels),
                             raw[..., channels:]], dim=-1)
        knot_mean, knot_std = self.emission.finish(raw, source, self.sources)
        knot_mean, knot_std = knot_mean[..., columns], knot_std[..., columns]
        weights = weights[:, index]
        mean = torch.einsum("tj,sbjo->sbto", weights, knot_mean)
        if growing:
            # Spread each knot's increment evenly over its cycles and add up: the same straight
            # lines, but a running sum of non-negative steps stays monotone in floating point.
            stride = self.config.cycle_stride
            steps = knot_mean[..., growing].diff(dim=2).repeat_interleave(stride, dim=2) / stride
            last = int(cycles.max()) if cycles is not None else horizon
            path = knot_mean[:, :, :1, growing] + torch.cumsum(steps[:, :, :last], dim=2)
            picked = path if cycles is None else path[:, :, cycles - 1]
            mean = _replace_columns(mean, growing, picked)
        return mean, torch.einsum("tj,sbjo->sbto", weights, knot_std)


def _replace_columns(values: Tensor, columns: list[int], replacement: Tensor) -> Tensor:
    """``values`` (``... x O``) with ``columns`` taken from ``replacement`` (``... x len(columns)``)."""
    parts = list(values.unbind(dim=-1))
    for i, column in enumerate(columns):
        parts[column] = replacement[..., i]
    return torch.stack(parts, dim=-1)


def weighted_means(terms: dict[str, Tensor], weights: Tensor | None) -> dict[str, Tensor]:
    """Each ``B`` term's mean over records, weighted by ``weights`` (``B``, >= 0; None for equal)."""
    if weights is None:
        return {name: value.mean() for name, value in terms.items()}
    total = weights.sum().clamp(min=1e-12)
    return {name: (value * weights).sum() / total for name, value in terms.items()}
