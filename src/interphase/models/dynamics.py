"""Latent Markov dynamics over cycles, and the amortised filter that conditions it on a prefix.

Shapes: ``S`` samples, ``B`` records, ``T`` cycles, ``L`` latent size, ``U`` controls,
``E`` source-embedding size, ``O`` per-cycle observables, ``H`` hidden width.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from interphase.models.config import TransitionKind
from interphase.models.network import (
    kl_to_centred_normal,
    mlp,
    shrink_last_layer,
    soft_clamp,
    standard_normal,
)

StateUpdate = Callable[[int, Tensor], Tensor]
"""``update(t, z_t) -> z_t'``: a filtering step applied to the state at position ``t``."""


class LatentDynamics(nn.Module):
    """``z(t+1) = z(t) + f(z(t), u(t), e_s) + sigma(z(t), u(t), e_s) * eps``, ``eps ~ N(0, I)``.

    With ``transition="gru"`` the drift is ``GRUCell(g(u, e_s), z) - z``: z itself is the GRU's
    hidden state, so the chain stays Markov in z and the gates learn how fast it moves.
    With ``"mlp"`` the drift is ``tanh(MLP(z, u, e_s))``, started near zero. Both drifts and
    sigma (``min_std + (1 - min_std) * sigmoid(.)``) are at most about one latent unit per
    cycle, so no weights can make a rollout overflow, however long.

    Args:
        latent_dim: ``L``.
        n_controls: ``U``.
        source_dim: ``E``.
        hidden: Hidden width.
        depth: Hidden layers per MLP.
        transition: ``"gru"`` or ``"mlp"``.
        min_std: Floor of sigma.
        initial_std: sigma at initialisation, in ``(min_std, 1)``.
        dropout: Dropout probability.

    """

    def __init__(self, latent_dim: int, n_controls: int, source_dim: int, hidden: int, depth: int,
                 transition: TransitionKind, min_std: float, initial_std: float,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.transition = transition
        self.min_std = min_std
        inputs = latent_dim + n_controls + source_dim
        if transition == "gru":
            self.drive = mlp(n_controls + source_dim, hidden, hidden, 1, dropout)
            self.cell: nn.Module = nn.GRUCell(hidden, latent_dim)
        else:
            self.cell = mlp(inputs, hidden, latent_dim, depth, dropout)
            shrink_last_layer(self.cell)
        self.noise = mlp(inputs, hidden, latent_dim, 1, dropout)
        shrink_last_layer(self.noise)
        start = min(max((initial_std - min_std) / (1.0 - min_std), 1e-6), 1.0 - 1e-6)
        with torch.no_grad():
            self.noise[-1].bias.fill_(math.log(start / (1.0 - start)))

    def step(self, z: Tensor, u: Tensor, source_embedding: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std of the next state.

        Args:
            z: ``S x B x L`` current state.
            u: ``B x U`` controls of this cycle.
            source_embedding: ``B x E``.

        Returns:
            ``(mean, std)``, each ``S x B x L``.

        """
        context = torch.cat([u, source_embedding], dim=-1).expand(z.shape[0], -1, -1)
        inputs = torch.cat([z, context], dim=-1)
        if self.transition == "gru":
            drive = self.drive(context)
            mean = self.cell(drive.reshape(-1, drive.shape[-1]), z.reshape(-1, self.latent_dim))
            mean = mean.reshape(z.shape)
        else:
            mean = z + torch.tanh(self.cell(inputs))
        std = self.min_std + (1.0 - self.min_std) * torch.sigmoid(self.noise(inputs))
        return mean, std

    def rollout(self, z0: Tensor, u: Tensor, source_embedding: Tensor, *, n_samples: int = 1,
                generator: torch.Generator | None = None, update: StateUpdate | None = None) -> Tensor:
        """Sample latent trajectories with reparameterised noise.

        Args:
            z0: ``B x L`` (repeated ``n_samples`` times) or ``S x B x L`` design latents.
            u: ``B x T x U`` controls; ``u[:, t]`` drives cycle ``t + 1``.
            source_embedding: ``B x E``.
            n_samples: ``S`` when ``z0`` has no sample axis.
            generator: Source of the process noise.
            update: Optional filtering step applied to the state at each position.

        Returns:
            ``S x B x T x L`` states; position ``t`` is the state after cycle ``t + 1``.

        """
        z = z0 if z0.dim() == 3 else z0.unsqueeze(0).expand(n_samples, -1, -1)
        states = []
        for t in range(u.shape[1]):
            mean, std = self.step(z, u[:, t], source_embedding)
            z = mean + std * standard_normal(mean.shape, mean, generator)
            if update is not None:
                z = update(t, z)
            states.append(z)
        if not states:
            return z.new_zeros((*z.shape[:2], 0, self.latent_dim))
        return torch.stack(states, dim=2)


class PrefixFilter(nn.Module):
    """Amortised filtering in the manner of a deep Kalman filter.

    A GRU reads the observed prefix of a record (scaled observations times their mask, the
    mask, the controls and the source embedding) up to its prefix length ``k``. Its summary and
    the prior state rolled out to position ``k - 1`` give a Gaussian correction
    ``q(delta | prefix, z_prior) = N(m, diag(v))`` that is added to that state; its prior is
    ``N(0, prior_std^2 I)``. Seeing the prior state makes the correction a Kalman-like update:
    it only has to move the state as far as the prefix disagrees with it.

    Args:
        n_observables: ``O``.
        n_controls: ``U``.
        source_dim: ``E``.
        latent_dim: ``L``.
        hidden: ``H``.
        depth: Hidden layers of the correction MLP.
        prior_std: Std of the correction's prior.
        dropout: Dropout probability.

    """

    def __init__(self, n_observables: int, n_controls: int, source_dim: int, latent_dim: int, hidden: int,
                 depth: int, prior_std: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.prior_std = prior_std
        self.reader = nn.GRU(2 * n_observables + n_controls + source_dim, hidden, batch_first=True)
        self.correction_net = mlp(hidden + latent_dim, hidden, 2 * latent_dim, depth, dropout)
        shrink_last_layer(self.correction_net)
        with torch.no_grad():  # a small correction (std 0.05) until the prefix proves informative
            self.correction_net[-1].bias[latent_dim:].fill_(-6.0)

    def summarise(self, y_scaled: Tensor, y_mask: Tensor, u: Tensor, source_embedding: Tensor,
                  prefix_cycles: Tensor) -> Tensor:
        """The GRU's state after each record's prefix.

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
        embedding = source_embedding.unsqueeze(1).expand(-1, y_scaled.shape[1], -1)
        outputs, _ = self.reader(torch.cat([y_scaled * y_mask, y_mask, u, embedding], dim=-1))
        last = (prefix_cycles - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
        return outputs.gather(1, last).squeeze(1)

    def correction(self, summary: Tensor, z_prior: Tensor) -> tuple[Tensor, Tensor]:
        """``q(delta | prefix, z_prior)``.

        Args:
            summary: ``B x H`` from ``summarise``.
            z_prior: ``S x B x L`` prior state at the prefix's last position.

        Returns:
            ``(mean, logvar)``, each ``S x B x L``.

        """
        inputs = torch.cat([summary.expand(z_prior.shape[0], -1, -1), z_prior], dim=-1)
        mean, raw_logvar = self.correction_net(inputs).chunk(2, dim=-1)
        return mean, soft_clamp(raw_logvar, -14.0, 4.0)

    def kl(self, mean: Tensor, logvar: Tensor) -> Tensor:
        """``KL(q(delta) || N(0, prior_std^2 I))``: ``S x B`` from ``S x B x L`` moments."""
        return kl_to_centred_normal(mean, logvar, self.prior_std)
