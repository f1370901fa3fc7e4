"""Heads on the latent state: source embedding, emissions, condition emissions, feasibility.

Shapes: ``S`` samples, ``B`` records, ``T`` cycles, ``L`` latent size, ``E`` source-embedding
size, ``O`` per-cycle observables with ``P`` pre-activation channels, ``C`` conditions and
``Oc`` condition-indexed observables with ``Pc`` channels, ``U`` controls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interphase.models.network import mlp, shrink_last_layer
from interphase.models.physics import PhysicsConstraints


class SourceEmbedding(nn.Module):
    """A learned embedding per source, and per-source affine maps of the emissions.

    The emission pre-activations of source ``s`` become ``h * exp(b_s) + a_s`` (per channel)
    and the aleatoric log-variance shifts by ``c_s`` (per observable): every source shares the
    dynamics and heads, and a cheap source's systematic offset, gain and noise live in its own
    ``(a_s, b_s, c_s)`` instead of being mistaken for the expensive one's. The gains and noise
    shifts start at the identity; each offset ``a_s`` starts at a draw from ``N(0,
    prior_std^2)``, one per member of an ensemble: a source the data never showed keeps its draw,
    so the members disagree about it as much as the prior says (a randomised prior), while a
    source with data is pulled to its own offset. The embedding ``e_s`` also feeds the dynamics,
    the condition emission and the feasibility head.

    Args:
        n_sources: Sources in the vocabulary, including the last ``"<none>"`` entry.
        embedding_dim: ``E``.
        n_channels: ``P``.
        n_observables: ``O``.
        prior_std: Std of the initial offsets, in emission pre-activation units (0: identity).

    """

    def __init__(self, n_sources: int, embedding_dim: int, n_channels: int, n_observables: int,
                 prior_std: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_sources, embedding_dim)
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, 0.1)
        self.shift = nn.Parameter(prior_std * torch.randn(n_sources, n_channels))
        self.log_gain = nn.Parameter(torch.zeros(n_sources, n_channels))
        self.logvar_shift = nn.Parameter(torch.zeros(n_sources, n_observables))

    def forward(self, source: Tensor) -> Tensor:
        """``B x E`` embeddings of ``source`` (``B``, long)."""
        return self.embedding(source)

    def adjust(self, pre: Tensor, std: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        """Apply each record's source map.

        Args:
            pre: ``S x B x T x P`` emission pre-activations.
            std: ``S x B x T x O`` aleatoric std (scaled units).
            source: ``B`` (long).

        Returns:
            ``(pre', std')`` of the same shapes.

        """
        gain = self.log_gain[source].exp().unsqueeze(1)
        shift = self.shift[source].unsqueeze(1)
        std_gain = (0.5 * self.logvar_shift[source]).exp().unsqueeze(1)
        return pre * gain + shift, std * std_gain


class EmissionHeads(nn.Module):
    """Per-cycle Gaussian emissions ``p(y(t) | z(t), u(t))``: bounded mean (``physics.py``) and std.

    The controls enter beside the state: what a cycler measures depends on how the cycle
    is run (a fast discharge delivers less capacity from the same cell).

    Args:
        latent_dim: ``L``.
        n_controls: ``U``.
        hidden: Hidden width.
        depth: Hidden layers.
        constraints: The observables' bounds, ``loc`` and ``scale`` (sequential).
        min_std: Floor of the std in scaled units.
        dropout: Dropout probability.

    """

    def __init__(self, latent_dim: int, n_controls: int, hidden: int, depth: int,
                 constraints: PhysicsConstraints, min_std: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.constraints = constraints
        self.min_std = min_std
        self.net = mlp(latent_dim + n_controls, hidden, constraints.n_channels + constraints.n_observables,
                       depth, dropout)
        shrink_last_layer(self.net, 0.5)

    def forward(self, z: Tensor, u: Tensor, source: Tensor,
                sources: SourceEmbedding) -> tuple[Tensor, Tensor]:
        """Emission moments.

        Args:
            z: ``S x B x T x L`` latent states.
            u: ``B x T x U`` controls of those cycles.
            source: ``B`` (long).
            sources: The model's source embedding (its affine maps are applied here).

        Returns:
            ``(mean, std)``, each ``S x B x T x O``: the mean in canonical units, the std in
            scaled units (multiply by ``constraints.scale`` for canonical units).

        """
        return self.finish(self.raw(z, u), source, sources)

    def raw(self, z: Tensor, u: Tensor) -> Tensor:
        """``S x B x T x (P + O)`` unbounded outputs (pre-activations, raw std) of ``S x B x T x L`` states.

        ``u`` is ``B x T x U``.
        """
        return self.net(torch.cat([z, u.unsqueeze(0).expand(z.shape[0], -1, -1, -1)], dim=-1))

    def finish(self, out: Tensor, source: Tensor, sources: SourceEmbedding) -> tuple[Tensor, Tensor]:
        """Emission moments from ``S x B x T x (P + O)`` outputs of :meth:`raw` (or their interpolation)."""
        pre, raw_std = out.split([self.constraints.n_channels, self.constraints.n_observables], dim=-1)
        pre, std = sources.adjust(pre, F.softplus(raw_std) + self.min_std, source)
        return self.constraints(pre), std


class ConditionEmission(nn.Module):
    """Emissions of condition-indexed observables: ``cond_y[c, o] ~ N(g(z0, e_s, c))``.

    Args:
        latent_dim: ``L``.
        source_dim: ``E``.
        hidden: Hidden width.
        depth: Hidden layers.
        constraints: Bounds, ``loc`` and ``scale`` of the ``Oc`` observables (not sequential).
        min_std: Floor of the std in scaled units.
        dropout: Dropout probability.

    """

    def __init__(self, latent_dim: int, source_dim: int, hidden: int, depth: int,
                 constraints: PhysicsConstraints, min_std: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.constraints = constraints
        self.min_std = min_std
        outputs = constraints.n_channels + constraints.n_observables
        self.net = mlp(latent_dim + source_dim + 1, hidden, outputs, depth, dropout)
        shrink_last_layer(self.net, 0.5)

    def forward(self, z0: Tensor, source_embedding: Tensor, conditions: Tensor,
                shift: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Emission moments at each condition.

        Args:
            z0: ``S x B x L`` design latents.
            source_embedding: ``B x E``.
            conditions: ``C`` normalised condition values (e.g. standardised temperatures).
            shift: ``B x Pc`` added to the pre-activations (a member's random prior), or None.

        Returns:
            ``(mean, std)``, each ``S x B x C x Oc``: canonical units and scaled units.

        """
        n_samples, batch, _ = z0.shape
        n_conditions = conditions.shape[0]
        inputs = torch.cat([
            z0.unsqueeze(2).expand(-1, -1, n_conditions, -1),
            source_embedding.view(1, batch, 1, -1).expand(n_samples, -1, n_conditions, -1),
            conditions.to(z0.dtype).view(1, 1, n_conditions, 1).expand(n_samples, batch, -1, -1),
        ], dim=-1)
        out = self.net(inputs)
        pre, raw_std = out.split([self.constraints.n_channels, self.constraints.n_observables], dim=-1)
        if shift is not None:
            pre = pre + shift.view(1, batch, 1, -1)
        return self.constraints(pre), F.softplus(raw_std) + self.min_std


class FeasibilityHead(nn.Module):
    """``logit p(fail | z0, x, e_s, mean controls)``.

    The design features enter beside the latent: failures are rare and often sharp in a few
    design variables (cold and fast charging), which a direct path to ``x`` learns from few
    failed records.

    Args:
        latent_dim: ``L``.
        n_features: ``D``; the head reads the masked features and their mask (``2 D``).
        source_dim: ``E``.
        n_controls: ``U``.
        hidden: Hidden width.
        depth: Hidden layers.
        dropout: Dropout probability.

    """

    def __init__(self, latent_dim: int, n_features: int, source_dim: int, n_controls: int, hidden: int,
                 depth: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = mlp(latent_dim + 2 * n_features + source_dim + n_controls, hidden, 1, depth, dropout)

    def forward(self, z0: Tensor, design: Tensor, source_embedding: Tensor, mean_controls: Tensor) -> Tensor:
        """Failure logits.

        Args:
            z0: ``S x B x L``.
            design: ``B x 2D`` masked features and their mask.
            source_embedding: ``B x E``.
            mean_controls: ``B x U`` controls averaged over the planned cycles.

        Returns:
            ``S x B`` logits.

        """
        context = torch.cat([design, source_embedding, mean_controls], dim=-1).expand(z0.shape[0], -1, -1)
        return self.net(torch.cat([z0, context], dim=-1)).squeeze(-1)
