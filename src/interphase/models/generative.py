"""``InterphaseNet``: the semi-supervised deep generative model of designs and their trajectories.

Generative story for a record (design ``x``, source ``s``, controls ``u``)::

    z0 ~ N(0, I)                                           design latent
    x | z0 ~ DesignVAE decoder                             mixed continuous / categorical
    z(t) = z(t-1) + f(z(t-1), u(t), e_s) + sigma * eps     latent Markov dynamics (z(-1) = z0)
    y(t) | z(t) ~ N(physics(h(z(t)) under s), std^2)       per-cycle emissions
    cond_y(c) | z0 ~ N(g(z0, e_s, c), std_c^2)             condition-indexed emissions
    fail | z0, s, u ~ Bernoulli(sigmoid(feasibility))

Inference uses ``q(z0 | x * x_mask, x_mask)`` and, for a record conditioned on its first ``k``
cycles, a correction ``q(delta | prefix, z(k-1))`` added to the state at position ``k - 1``
(prior ``N(0, prefix_prior_std^2 I)``; see ``dynamics.PrefixFilter``).

Shapes: ``S`` samples, ``B`` records, ``T`` cycles, ``D`` features, ``L`` latent size, ``U``
controls, ``O`` per-cycle observables, ``C`` conditions, ``Oc`` condition-indexed observables.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interphase.models.batch import TrajectoryBatch
from interphase.models.config import NetConfig
from interphase.models.dynamics import LatentDynamics, PrefixFilter, StateUpdate
from interphase.models.heads import ConditionEmission, EmissionHeads, FeasibilityHead, SourceEmbedding
from interphase.models.network import gaussian_nll, kl_to_centred_normal, standard_normal, zero_where_missing
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
    """The VAE, latent dynamics, prefix filter and heads, wired together.

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
            sequential=True, typical_cycles=c.typical_cycles)
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
                                       y_constraints.n_observables)
        self.dynamics = LatentDynamics(c.latent_dim, n_controls, c.source_embedding_dim, c.hidden, c.depth,
                                       c.transition, c.min_std, c.initial_process_std, c.dropout)
        self.emission = EmissionHeads(c.latent_dim, c.hidden, c.depth, y_constraints, c.min_std, c.dropout)
        # No head without condition-indexed observables (a zero-width layer only warns).
        self.condition_emission = ConditionEmission(c.latent_dim, c.source_embedding_dim, c.hidden, c.depth,
                                                    cond_constraints, c.min_std, c.dropout
                                                    ) if self.cond_observables else None
        self.prefix_filter = PrefixFilter(len(self.observables), n_controls, c.source_embedding_dim,
                                          c.latent_dim, c.hidden, c.depth, c.prefix_prior_std, c.dropout)
        self.feasibility_head = FeasibilityHead(c.latent_dim, c.source_embedding_dim, n_controls, c.hidden,
                                                c.depth, c.dropout)

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
                            prefix_cycles: Tensor | None = None,
                            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Sampled emission moments over ``horizon`` cycles.

        Each sample draws z0 from ``q(z0 | x)``, a latent path with process noise and, with a
        prefix, the correction; the returned moments are those of the emission given that path.
        Controls past ``batch.u``'s last position repeat its last cycle. Call under
        ``torch.no_grad()`` unless gradients (e.g. with respect to ``batch.x``) are wanted.

        Args:
            batch: ``B`` records.
            horizon: Cycles to predict (position ``t`` is cycle ``t + 1``).
            n_samples: ``S``.
            prefix_cycles: ``B`` (long) cycles of each record's observed ``y`` to condition on
                (clamped to its ``cycles``; 0 for none). Positions before ``k - 1`` stay prior
                predictions; the correction acts from position ``k - 1`` on.
            generator: Source of every draw.

        Returns:
            ``(mean, var)``, each ``S x B x horizon x O``: emission mean (canonical units, within
            the physics bounds) and aleatoric variance (canonical units squared).

        """
        z0 = self._sample_z0(batch, n_samples, generator)
        embedding = self.sources(batch.source)
        prefix = self._clamp_prefix(batch, prefix_cycles)
        steps = max(horizon, int(prefix.max()) if prefix.numel() else 0)
        states, _ = self._rollout(batch, z0, embedding, steps, prefix, generator)
        mean, std = self.emission(states[:, :, :horizon], batch.source, self.sources)
        return mean, (std * self.emission.constraints.scale) ** 2

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
        z0 = self._sample_z0(batch, n_samples, generator)
        if self.condition_emission is None:
            empty = torch.zeros(z0.shape[0], len(batch), conditions.numel(), 0)
            return empty, empty.clone()
        mean, std = self.condition_emission(z0, self.sources(batch.source), self._normalise(conditions))
        return mean, (std * self.condition_emission.constraints.scale) ** 2

    def feasibility(self, batch: TrajectoryBatch) -> Tensor:
        """``B`` probability of failure, at the posterior mean of z0."""
        mean, _ = self.encode(batch.x, batch.x_mask)
        embedding = self.sources(batch.source)
        logits = self.feasibility_head(mean.unsqueeze(0), embedding, self._mean_controls(batch))
        return torch.sigmoid(logits.squeeze(0))

    # ------------------------------------------------------------------ training
    def loss(self, batch: TrajectoryBatch, *, n_samples: int = 1, prefix_cycles: Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
        """The masked negative ELBO plus the feasibility cross-entropy, averaged per record.

        Per record: ``design_weight * (-log p(x_known | z0)) + kl_weight * (KL_z0 + KL_prefix)
        + sum over observed (t, o) of -log N(y | mean, std^2) in units of y_scale + the same for
        cond_y + feasibility_weight * BCE(failed)``, each averaged over ``n_samples`` draws.
        Records without a result contribute only the design terms. Without ``prefix_cycles``
        each record is conditioned on a random prefix (see ``NetConfig.max_prefix_fraction``).

        Args:
            batch: ``B`` records.
            n_samples: ``S`` Monte Carlo draws.
            prefix_cycles: ``B`` (long) prefix lengths, or None for random ones.
            generator: Source of every draw.

        Returns:
            ``(loss, parts)``: the scalar loss and the per-record means of its terms
            (``design``, ``kl_design``, ``observation``, ``condition``, ``kl_prefix``,
            ``feasibility``) as floats, plus ``loss``.

        """
        c = self.config
        has_result = batch.has_result.to(torch.float32)
        mean, logvar = self.encode(batch.x, batch.x_mask)
        z0 = _draw(mean, logvar, n_samples, generator)
        design = -self.vae.log_likelihood(batch.x, batch.x_mask, z0).mean(dim=0)
        kl_design = kl_to_centred_normal(mean, logvar)
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
            states, kl_paths = self._rollout(sub, z0[:, labelled], embedding[labelled], horizon, prefix,
                                             generator)
            kl_prefix = zeros.index_put((labelled,), kl_paths.mean(dim=0))
            y_mean, y_std = self.emission(states, sub.source, self.sources)
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
            c_mean, c_std = self.condition_emission(z0, embedding, self._normalise(self.condition_grid))
            observed_c = batch.cond_mask * has_result.view(-1, 1, 1)
            c_scale = self.condition_emission.constraints.scale
            residual = (zero_where_missing(batch.cond_y, observed_c) - c_mean) / c_scale
            condition = (gaussian_nll(residual, c_std) * observed_c).sum(dim=(-1, -2)).mean(dim=0)

        logits = self.feasibility_head(z0, embedding, self._mean_controls(batch))
        bce = F.binary_cross_entropy_with_logits(
            logits, batch.failed.to(logits.dtype).expand_as(logits), reduction="none").mean(dim=0)
        feasibility = bce * has_result

        total = (c.design_weight * design + c.kl_weight * (kl_design + kl_prefix) + observation + condition
                 + c.feasibility_weight * feasibility)
        loss = total.mean()
        parts = {name: float(value.detach().mean()) for name, value in [
            ("design", design), ("kl_design", kl_design), ("observation", observation),
            ("condition", condition), ("kl_prefix", kl_prefix), ("feasibility", feasibility)]}
        parts["loss"] = float(loss.detach())
        return loss, parts

    # ------------------------------------------------------------------ internals
    def _normalise(self, conditions: Tensor) -> Tensor:
        return (conditions.to(torch.float32) - self.condition_center) / self.condition_spread

    def _sample_z0(self, batch: TrajectoryBatch, n_samples: int, generator: torch.Generator | None) -> Tensor:
        mean, logvar = self.encode(batch.x, batch.x_mask)
        return _draw(mean, logvar, n_samples, generator)

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
        """``B`` (long) uniform prefix lengths in ``[0, floor(max_prefix_fraction * cycles)]``."""
        longest = torch.floor(self.config.max_prefix_fraction * batch.cycles.to(torch.float32))
        draws = torch.rand(batch.cycles.shape, generator=generator, device=batch.cycles.device)
        return torch.floor(draws * (longest + 1.0)).long()

    def _clamp_prefix(self, batch: TrajectoryBatch, prefix: Tensor | None) -> Tensor:
        if prefix is None:
            return torch.zeros_like(batch.cycles)
        limit = torch.clamp(batch.cycles, max=batch.y.shape[1]) * (batch.has_result > 0).long()
        return torch.minimum(prefix.long().clamp(min=0), limit)

    def _rollout(self, batch: TrajectoryBatch, z0: Tensor, embedding: Tensor, horizon: int, prefix: Tensor,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``S x B x horizon x L`` states and ``S x B`` KL of the prefix corrections."""
        u = self._controls(batch, horizon)
        update: StateUpdate | None = None
        corrections: list[Tensor] = []
        if bool((prefix > 0).any()) and self.observables:
            known = int(prefix.max())
            observed = self._observed(batch, known)
            constraints = self.emission.constraints
            scaled = (zero_where_missing(batch.y[:, :known], observed) - constraints.loc) / constraints.scale
            summary = self.prefix_filter.summarise(scaled, observed, u[:, :known], embedding, prefix)
            last = prefix - 1

            def update(t: int, z: Tensor) -> Tensor:
                hit = last == t
                if not bool(hit.any()):
                    return z
                mean, logvar = self.prefix_filter.correction(summary, z)
                delta = mean + (0.5 * logvar).exp() * standard_normal(mean.shape, mean, generator)
                corrections.append(self.prefix_filter.kl(mean, logvar) * hit.to(z.dtype))
                return torch.where(hit.view(1, -1, 1), z + delta, z)

        states = self.dynamics.rollout(z0, u, embedding, generator=generator, update=update)
        kl = torch.stack(corrections).sum(dim=0) if corrections else z0.new_zeros(z0.shape[:2])
        return states, kl
