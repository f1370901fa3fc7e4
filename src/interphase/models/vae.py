"""The design VAE: q(z0 | x, mask) and p(x | z0) over mixed continuous and categorical features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interphase.models.network import (
    gaussian_nll,
    mlp,
    soft_clamp,
    standard_normal,
    zero_where_missing,
)
from interphase.schema.errors import InvalidInputError

LOGVAR_RANGE = (-12.0, 6.0)


def check_categorical_slices(n_features: int, slices: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The one-hot blocks ``[start, stop)``, sorted, after checking they fit and do not overlap.

    Raises:
        InvalidInputError: On a block outside ``[0, n_features)``, narrower than 2 or overlapping.

    """
    ordered = sorted((int(start), int(stop)) for start, stop in slices)
    previous_stop = 0
    for start, stop in ordered:
        if start < previous_stop or stop > n_features or stop - start < 2:
            raise InvalidInputError("categorical_slices", f"block [{start}, {stop}) must lie in "
                                    f"[0, {n_features}), span >= 2 columns and not overlap another")
        previous_stop = stop
    return ordered


class DesignVAE(nn.Module):
    """Encoder q(z0 | x * mask, mask) and decoder p(x | z0).

    The decoder models each continuous column as ``N(sigmoid(m(z0)), s^2)`` with a learned
    per-column std ``s`` and each categorical block as a softmax over its one-hot columns.

    Args:
        n_features: ``D``.
        categorical_slices: One-hot blocks ``[start, stop)`` of ``x``.
        latent_dim: ``L``.
        hidden: Hidden width.
        depth: Hidden layers per MLP.
        min_std: Floor of the continuous columns' std.
        dropout: Dropout probability.

    """

    def __init__(self, n_features: int, categorical_slices: Sequence[tuple[int, int]], latent_dim: int,
                 hidden: int, depth: int, min_std: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_features = n_features
        self.latent_dim = latent_dim
        self.categorical_slices = check_categorical_slices(n_features, categorical_slices)
        self.min_std = min_std
        continuous = torch.ones(n_features, dtype=torch.bool)
        for start, stop in self.categorical_slices:
            continuous[start:stop] = False
        self.register_buffer("continuous", continuous)
        self.encoder = mlp(2 * n_features, hidden, 2 * latent_dim, depth, dropout)
        self.decoder = mlp(latent_dim, hidden, n_features, depth, dropout)
        # softplus(-2.25) + 0.01 ~ 0.11: a std of a tenth of the unit cube to start with
        self.raw_std = nn.Parameter(torch.full((n_features,), -2.25))

    def encode(self, x: Tensor, x_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior of the design latent.

        Args:
            x: ``B x D`` features (anything where ``x_mask == 0``).
            x_mask: ``B x D``.

        Returns:
            ``(mean, logvar)``, each ``B x L``.

        """
        inputs = torch.cat([zero_where_missing(x, x_mask), x_mask], dim=-1)
        mean, raw_logvar = self.encoder(inputs).chunk(2, dim=-1)
        return mean, soft_clamp(raw_logvar, *LOGVAR_RANGE)

    def decoder_logits(self, z: Tensor) -> Tensor:
        """``... x D`` pre-activations: continuous means before the sigmoid, block logits."""
        return self.decoder(z)

    def log_likelihood(self, x: Tensor, x_mask: Tensor, z: Tensor) -> Tensor:
        """Masked log p(x | z) per record.

        A categorical block counts only when all its columns are known.

        Args:
            x: ``B x D``.
            x_mask: ``B x D``.
            z: ``... x B x L`` (leading sample axes allowed).

        Returns:
            ``... x B`` log-likelihood in nats.

        """
        logits = self.decoder_logits(z)
        x_clean = zero_where_missing(x, x_mask)
        std = F.softplus(self.raw_std) + self.min_std
        continuous_nll = gaussian_nll(x_clean - torch.sigmoid(logits), std)
        known = x_mask * self.continuous.to(x_mask.dtype)
        total = -(continuous_nll * known).sum(dim=-1)
        for start, stop in self.categorical_slices:
            block_known = x_mask[..., start:stop].amin(dim=-1)
            log_probs = F.log_softmax(logits[..., start:stop], dim=-1)
            total = total + block_known * (x_clean[..., start:stop] * log_probs).sum(dim=-1)
        return total

    def decode(self, z: Tensor, *, probabilities: bool = False) -> Tensor:
        """Decoded features.

        Args:
            z: ``... x L``.
            probabilities: Categorical blocks as softmax probabilities instead of the one-hot
                of their most probable category.

        Returns:
            ``... x D`` features in [0, 1]: continuous columns the decoder's mean.

        """
        logits = self.decoder_logits(z)
        features = torch.sigmoid(logits)
        for start, stop in self.categorical_slices:
            block = logits[..., start:stop]
            if probabilities:
                values = torch.softmax(block, dim=-1)
            else:
                values = F.one_hot(block.argmax(dim=-1), stop - start).to(features.dtype)
            features = torch.cat([features[..., :start], values, features[..., stop:]], dim=-1)
        return features

    def inpaint(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """``x`` with its missing entries filled by the decoder at the posterior mean.

        A categorical block with any missing column is filled whole (one-hot).

        Args:
            x: ``B x D``.
            x_mask: ``B x D``.

        Returns:
            ``B x D`` features; known entries unchanged.

        """
        mean, _ = self.encode(x, x_mask)
        decoded = self.decode(mean)
        keep = x_mask > 0
        for start, stop in self.categorical_slices:
            block_known = keep[:, start:stop].all(dim=-1, keepdim=True)
            keep = torch.cat([keep[:, :start], block_known.expand(-1, stop - start), keep[:, stop:]], dim=-1)
        return torch.where(keep, x, decoded)

    def sample_prior(self, n: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``n x L`` draws of z0 from the prior N(0, I), dtype and device of ``like``."""
        return standard_normal((n, self.latent_dim), like, generator)
