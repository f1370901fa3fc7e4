"""How the ensemble pools its members' latent paths into aleatoric and epistemic spread."""

from __future__ import annotations

import torch

from interphase.models.ensemble import _summarise

K, S, B = 5, 8, 4000  # members, latent paths per member, records
PROCESS_STD = 0.03  # per-path spread, like the learnt process noise of retention
EMISSION_STD = 0.01


def _paths(offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``K x S x B x 1 x 1`` path means about each member's offset, and their emission variances."""
    generator = torch.Generator().manual_seed(0)
    means = offsets.view(K, 1, 1, 1, 1) + PROCESS_STD * torch.randn(K, S, B, 1, 1, generator=generator)
    return means, torch.full_like(means, EMISSION_STD ** 2)


def test_members_that_agree_have_no_epistemic_spread_from_their_finite_paths() -> None:
    means, variances = _paths(torch.zeros(K))
    prediction = _summarise(means, variances, torch.ones(B, 1, 1, 2), (0.05, 0.5, 0.95), seed=0)
    naive = means.mean(dim=1).var(dim=0, unbiased=False).sqrt().mean()
    assert float(naive) > 0.008  # the spread of 8-path averages alone: about 0.03 * sqrt(4/5 / 8)
    # Debiased, the mean epistemic variance is zero up to sampling error.
    assert abs(float((prediction.epistemic_std ** 2).mean())) < 2e-5
    assert float(prediction.epistemic_std.mean()) < 0.5 * float(naive)
    expected = (PROCESS_STD ** 2 + EMISSION_STD ** 2) ** 0.5
    assert abs(float(prediction.aleatoric_std.mean()) - expected) < 0.002


def test_members_that_disagree_have_their_disagreement_as_epistemic_variance() -> None:
    offsets = torch.tensor([-0.04, -0.02, 0.0, 0.02, 0.04])
    means, variances = _paths(offsets)
    prediction = _summarise(means, variances, torch.ones(B, 1, 1, 2), (0.05, 0.5, 0.95), seed=0)
    measured = float((prediction.epistemic_std ** 2).mean())
    assert abs(measured - float(offsets.var(unbiased=False))) < 0.05 * float(offsets.var(unbiased=False))
