"""The ensemble's pooling of latent paths at the edges: no observable, one member, one path.

A model of conductivity by temperature predicts no per-cycle observable, so its per-cycle
arrays are empty; pooling them must give empty predictions without a warning, and a single
member or path must give the spread the formulas mean, again without one.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from interphase.models.ensemble import _summarise

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


@pytest.mark.parametrize("shape", [(2, 8, 1, 3, 0), (2, 8, 1, 0, 4), (1, 1, 1, 0, 0)])
def test_empty_paths_pool_into_empty_predictions_without_a_warning(shape: tuple[int, ...]) -> None:
    factor = torch.ones(shape[2], 1, shape[4], 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prediction = _summarise(torch.zeros(shape), torch.zeros(shape), factor, LEVELS, seed=0)
    assert prediction.mean.shape == prediction.aleatoric_std.shape == shape[2:]
    assert prediction.epistemic_std.shape == shape[2:]
    assert prediction.quantiles.shape == (len(LEVELS), *shape[2:])


@pytest.mark.parametrize(("members", "paths"), [(1, 1), (1, 8), (3, 1)])
def test_one_member_or_one_path_has_the_spread_the_formulas_give(members: int, paths: int) -> None:
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(members, paths, 2, 3, 1, generator=generator)
    variances = torch.full_like(means, 0.04)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prediction = _summarise(means, variances, torch.ones(2, 1, 1, 2), LEVELS, seed=0)
    member_mean = means.mean(dim=1)
    path_variance = means.var(dim=1, unbiased=True) if paths > 1 else torch.zeros_like(member_mean)
    expected_aleatoric = (0.04 + path_variance).mean(dim=0)
    assert torch.allclose(prediction.mean, member_mean.mean(dim=0), atol=1e-6)
    assert torch.allclose(prediction.aleatoric_std ** 2, expected_aleatoric, atol=1e-6)
    if members == 1:
        assert torch.equal(prediction.epistemic_std, torch.zeros_like(prediction.epistemic_std))
    else:
        between = member_mean.var(dim=0, unbiased=False) - path_variance.mean(dim=0) / paths
        assert torch.allclose(prediction.epistemic_std ** 2, between.clamp_min(0.0), atol=1e-6)
    assert bool((prediction.quantiles.diff(dim=0) >= 0).all())
