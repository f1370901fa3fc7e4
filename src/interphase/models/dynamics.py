"""Latent Markov dynamics over cycles, and the amortised filter that conditions it on a prefix.

Shapes: ``S`` samples, ``B`` records, ``T`` cycles, ``J`` knots (steps of the dynamics), ``L``
latent size, ``U`` controls, ``E`` source-embedding size, ``O`` per-cycle observables, ``H``
hidden width.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interphase.models.config import TransitionKind
from interphase.models.network import (
    GatedCell,
    kl_to_centred_normal,
    mlp,
    shrink_last_layer,
    soft_clamp,
    standard_normal,
)

StateUpdate = Callable[[int, Tensor], Tensor]
"""``update(j, z_j) -> z_j'``: a filtering step applied to the state at knot ``j``."""


def knot_count(cycles: int, stride: int) -> int:
    """``J``, steps of the dynamics that cover ``cycles`` cycles at ``stride`` cycles per step."""
    return -(-cycles // stride) if cycles > 0 else 0


@functools.lru_cache(maxsize=64)
def interpolation_matrix(cycles: int, stride: int) -> Tensor:
    """``T x (J + 1)`` weights that place knots on cycles (cached: do not modify it).

    Knot ``j`` is the state after cycle ``j * stride`` (knot 0 is the state before cycle 1).
    Position ``t`` (cycle ``t + 1``) takes the linear interpolation of the two knots around
    cycle ``t + 1``; with ``stride == 1`` position ``t`` is knot ``t + 1`` exactly.
    """
    knots = knot_count(cycles, stride)
    weights = torch.zeros(cycles, knots + 1)
    for t in range(cycles):
        time = (t + 1) / stride
        low = int(math.floor(time))
        frac = time - low
        weights[t, low] += 1.0 - frac
        if frac > 0:
            weights[t, low + 1] += frac
    return weights


def window_means(u: Tensor, stride: int) -> Tensor:
    """``B x J x U`` controls averaged over each step's cycles, from ``B x T x U``."""
    batch, cycles, width = u.shape
    knots = knot_count(cycles, stride)
    padded = knots * stride
    if padded > cycles:  # the last window averages the cycles it has
        u = torch.cat([u, u[:, -1:].expand(-1, padded - cycles, -1)], dim=1)
    return u.reshape(batch, knots, stride, width).mean(dim=2)


class LatentDynamics(nn.Module):
    """``z(j+1) = z(j) + f(z(j), u_j, e_s) + sigma(z(j), u_j, e_s) * eps`` every ``stride`` cycles.

    One step covers ``stride`` cycles (their controls averaged), and states between steps are
    interpolated linearly, so a 200-cycle record costs 200 / stride sequential steps (and the
    model evaluates its emission heads at the knots only). With
    ``transition="gru"`` the drift is ``GatedCell(g(u, e_s), z) - z``: z itself is the cell's
    hidden state, so the chain stays Markov in z and the gates learn how fast it moves. With
    ``"mlp"`` the drift is ``tanh(MLP(z, u, e_s))``, started near zero. Both drifts and sigma
    (``min_std + (1 - min_std) * sigmoid(.)``) are at most about one latent unit per step, so
    no weights can make a rollout overflow, however long. The parts of the drift and of sigma
    that do not depend on z are computed for every step at once, before the loop.

    Args:
        latent_dim: ``L``.
        n_controls: ``U``.
        source_dim: ``E``.
        hidden: Hidden width.
        depth: Hidden layers per MLP.
        transition: ``"gru"`` or ``"mlp"``.
        min_std: Floor of sigma.
        initial_std: sigma at initialisation, in ``(min_std, 1)``.
        stride: Cycles per step.
        dropout: Dropout probability.

    """

    def __init__(self, latent_dim: int, n_controls: int, source_dim: int, hidden: int, depth: int,
                 transition: TransitionKind, min_std: float, initial_std: float, stride: int,
                 dropout: float = 0.0, design_dim: int = 0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.transition = transition
        self.min_std = min_std
        self.stride = stride
        context = n_controls + source_dim + design_dim
        if transition == "gru":
            self.drive = mlp(context, hidden, hidden, 1, dropout)
            self.cell: nn.Module = GatedCell(hidden, latent_dim)
        else:
            self.cell = mlp(latent_dim + context, hidden, latent_dim, depth, dropout)
            shrink_last_layer(self.cell)
        noise_hidden = max(latent_dim, hidden // 4)  # sigma is smooth; a narrow layer keeps the loop cheap
        self.noise_context = nn.Linear(context, noise_hidden)
        self.noise_state = nn.Linear(latent_dim, noise_hidden, bias=False)
        self.noise_out = nn.Linear(noise_hidden, latent_dim)
        start = min(max((initial_std - min_std) / (1.0 - min_std), 1e-6), 1.0 - 1e-6)
        with torch.no_grad():
            self.noise_out.weight.mul_(0.1)
            self.noise_out.bias.fill_(math.log(start / (1.0 - start)))

    def context(self, u: Tensor, source_embedding: Tensor, design: Tensor | None = None) -> Tensor:
        """``B x J x (U + E [+ G])``: each step's mean controls, the source (and the design).

        Args:
            u: ``B x T x U`` per-cycle controls.
            source_embedding: ``B x E``.
            design: ``B x G`` design context, when the dynamics read one.
        """
        steps = window_means(u, self.stride)
        static = source_embedding if design is None else torch.cat([source_embedding, design], dim=-1)
        return torch.cat([steps, static.unsqueeze(1).expand(-1, steps.shape[1], -1)], dim=-1)

    def knot_controls(self, u: Tensor) -> Tensor:
        """``B x (J + 1) x U``: the controls of the cycles that led to each knot (knot 0: step 0's)."""
        steps = window_means(u, self.stride)
        if steps.shape[1] == 0:  # no cycles: knot 0 alone
            return u.new_zeros((u.shape[0], 1, u.shape[2]))
        return torch.cat([steps[:, :1], steps], dim=1)

    def rollout(self, z0: Tensor, u: Tensor, source_embedding: Tensor, *,
                generator: torch.Generator | None = None, update: StateUpdate | None = None,
                design: Tensor | None = None) -> Tensor:
        """Sample latent trajectories: ``S x B x T x L`` states, position ``t`` after cycle ``t + 1``.

        The arguments are those of :meth:`rollout_knots`; the knots are interpolated onto cycles.
        """
        knots = self.rollout_knots(z0, u, source_embedding, generator=generator, update=update, design=design)
        return self.to_cycles(knots, u.shape[1])

    def to_cycles(self, at_knots: Tensor, cycles: int) -> Tensor:
        """``S x B x T x F`` values on cycles, interpolated from ``S x B x (J + 1) x F`` knot values."""
        return torch.einsum("tj,sbjf->sbtf", interpolation_matrix(cycles, self.stride).to(at_knots), at_knots)

    def rollout_knots(self, z0: Tensor, u: Tensor, source_embedding: Tensor, *,
                      generator: torch.Generator | None = None, update: StateUpdate | None = None,
                      design: Tensor | None = None) -> Tensor:
        """Sample latent trajectories with reparameterised noise, one state per knot.

        Args:
            z0: ``S x B x L`` initial states (the state before cycle 1, knot 0).
            u: ``B x T x U`` controls; ``u[:, t]`` drives cycle ``t + 1``.
            source_embedding: ``B x E``.
            generator: Source of the process noise.
            update: Optional filtering step applied to the state at each knot (0 to ``J``).
            design: ``B x G`` design context (constructed with ``design_dim = G``), or None.

        Returns:
            ``S x B x (J + 1) x L`` states; knot ``j`` is the state after cycle ``j * stride``
            (knot 0 is ``z0``, after any update).

        """
        cycles = u.shape[1]
        if cycles == 0:
            return (z0 if update is None else update(0, z0)).unsqueeze(2)
        context = self.context(u, source_embedding, design).unsqueeze(0)  # 1 x B x J x C
        noise_context = self.noise_context(context)
        if self.transition == "gru":
            gates = self.cell.input_map(self.drive(context))
        knots_count = context.shape[2]
        noise = standard_normal((*z0.shape[:2], knots_count, self.latent_dim), z0, generator)
        z = z0 if update is None else update(0, z0)
        knots = [z]
        for j in range(knots_count):
            if self.transition == "gru":
                mean = self.cell(None, z, mapped_input=gates[:, :, j].expand(z.shape[0], -1, -1))
            else:
                inputs = torch.cat([z, context[:, :, j].expand(z.shape[0], -1, -1)], dim=-1)
                mean = z + torch.tanh(self.cell(inputs))
            hidden = F.silu(self.noise_state(z) + noise_context[:, :, j])
            std = self.min_std + (1.0 - self.min_std) * torch.sigmoid(self.noise_out(hidden))
            z = mean + std * noise[:, :, j]
            if update is not None:
                z = update(j + 1, z)
            knots.append(z)
        return torch.stack(knots, dim=2)


class PrefixFilter(nn.Module):
    """Amortised filtering in the manner of a deep Kalman filter.

    The observed prefix of a record (its first ``k`` cycles) is summarised: each cycle is
    embedded (scaled observations times their mask, the mask, the controls, the cycle's
    position), and the embeddings of the first ``k`` cycles are averaged; the average, the
    source and ``log(1 + k)`` make the summary. The average needs no sequential loop and is
    defined for any prefix length. The summary and the prior state at the last knot within
    the prefix (knot ``floor(k / stride)``) give a Gaussian correction
    ``q(delta | prefix, z_prior) = N(m, diag(v))``: one half is added to that state, the other
    to every later state (a drift); its prior is ``N(0, prior_std^2 I)``. Seeing the prior state
    makes the correction a Kalman-like update: it only has to move the state as far as the
    prefix disagrees with it.

    Args:
        n_observables: ``O``.
        n_controls: ``U``.
        source_dim: ``E``.
        latent_dim: ``L``.
        hidden: ``H``.
        depth: Hidden layers of the correction MLP.
        prior_std: Std of the correction's prior.
        typical_cycles: Scales the cycle position and the prefix length.
        dropout: Dropout probability.

    """

    def __init__(self, n_observables: int, n_controls: int, source_dim: int, latent_dim: int, hidden: int,
                 depth: int, prior_std: float, typical_cycles: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.prior_std = prior_std
        self.typical_cycles = float(typical_cycles)
        self.cycle_net = mlp(2 * n_observables + n_controls + 1, hidden, hidden, 1, dropout)
        self.summary_net = mlp(hidden + source_dim + 1, hidden, hidden, 1, dropout)
        self.latent_dim = latent_dim
        self.correction_net = mlp(hidden + latent_dim, hidden, 4 * latent_dim, depth, dropout)
        shrink_last_layer(self.correction_net)
        with torch.no_grad():  # a small correction (std 0.05) until the prefix proves informative
            self.correction_net[-1].bias[2 * latent_dim:].fill_(-6.0)

    def summarise(self, y_scaled: Tensor, y_mask: Tensor, u: Tensor, source_embedding: Tensor,
                  prefix_cycles: Tensor) -> Tensor:
        """The summary of each record's prefix.

        Args:
            y_scaled: ``B x K x O`` observations in scaled units, 0.0 where missing.
            y_mask: ``B x K x O``.
            u: ``B x K x U``.
            source_embedding: ``B x E``.
            prefix_cycles: ``B`` (long) prefix lengths ``k`` in ``[0, K]``; rows with 0 get an
                arbitrary summary and must not be corrected.

        Returns:
            ``B x H``.

        """
        cycles = y_scaled.shape[1]
        position = torch.arange(cycles, dtype=y_scaled.dtype, device=y_scaled.device) / self.typical_cycles
        position = position.view(1, -1, 1).expand(y_scaled.shape[0], -1, 1)
        embedded = self.cycle_net(torch.cat([y_scaled * y_mask, y_mask, u, position], dim=-1))
        within = torch.arange(cycles, device=y_scaled.device).unsqueeze(0) < prefix_cycles.unsqueeze(1)
        weights = (within & (y_mask.amax(dim=-1) > 0)).to(embedded.dtype).unsqueeze(-1)
        pooled = (embedded * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        length = torch.log1p(prefix_cycles.to(embedded.dtype)) / math.log1p(self.typical_cycles)
        return self.summary_net(torch.cat([pooled, source_embedding, length.unsqueeze(-1)], dim=-1))

    def correction(self, summary: Tensor, z_prior: Tensor) -> tuple[Tensor, Tensor]:
        """``q(delta | prefix, z_prior)`` of the level and the drift correction.

        Args:
            summary: ``B x H`` from ``summarise``.
            z_prior: ``S x B x L`` prior state at the prefix's last knot.

        Returns:
            ``(mean, logvar)``, each ``S x B x 2L``: the first ``L`` entries shift the state at
            that knot, the other ``L`` are added at every later knot (a run that has drifted
            from its design's path keeps drifting: a fast-fading cell fades fast on).

        """
        inputs = torch.cat([summary.expand(z_prior.shape[0], -1, -1), z_prior], dim=-1)
        mean, raw_logvar = self.correction_net(inputs).chunk(2, dim=-1)
        return mean, soft_clamp(raw_logvar, -14.0, 4.0)

    def kl(self, mean: Tensor, logvar: Tensor) -> Tensor:
        """``KL(q(delta) || N(0, prior_std^2 I))``: ``S x B`` from ``S x B x 2L`` moments."""
        return kl_to_centred_normal(mean, logvar, self.prior_std)
