"""Scores against closed forms, sampling behaviour and masks."""

from __future__ import annotations

import math

import pytest
import torch

from interphase.models.metrics import (
    central_interval,
    gaussian_crps,
    gaussian_nll,
    interval_coverage,
    mae,
    mape,
    quantile_coverage_curve,
    rmse,
    roc_auc,
    sample_central_interval,
    sample_crps,
    variance_calibration_factor,
)
from interphase.schema import InvalidInputError

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def generator(fixed_seeds: int) -> torch.Generator:
    return torch.Generator().manual_seed(fixed_seeds)


def test_point_errors_match_hand_values() -> None:
    y = torch.tensor([1.0, 2.0, 4.0])
    pred = torch.tensor([1.5, 2.0, 3.0])
    assert rmse(y, pred) == pytest.approx(math.sqrt((0.25 + 0 + 1) / 3))
    assert mae(y, pred) == pytest.approx(0.5)
    assert mape(y, pred) == pytest.approx(100 * (0.5 + 0 + 0.25) / 3)
    assert rmse(y, torch.tensor(2.0)) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))  # broadcast


def test_masks_ignore_entries_even_when_nan() -> None:
    y = torch.tensor([[1.0, float("nan")], [3.0, 100.0]])
    pred = torch.tensor([[2.0, 0.0], [3.0, 0.0]])
    mask = torch.tensor([[1, 0], [1, 0]])
    assert rmse(y, pred, mask) == pytest.approx(math.sqrt(0.5))
    assert mae(y, pred, mask.bool()) == pytest.approx(0.5)
    assert mape(y, pred, mask) == pytest.approx(50.0)
    std = torch.ones_like(y)
    assert gaussian_nll(y, pred, std, mask) == pytest.approx(gaussian_nll(y[:, 0], pred[:, 0], std[:, 0]))
    assert gaussian_crps(y, pred, std, mask) == pytest.approx(gaussian_crps(y[:, 0], pred[:, 0], std[:, 0]))
    samples = pred.unsqueeze(0) + torch.linspace(-1, 1, 7).reshape(-1, 1, 1)
    assert sample_crps(y, samples, mask) == pytest.approx(sample_crps(y[:, 0], samples[:, :, 0]))
    assert interval_coverage(y, pred - 0.5, pred + 0.5, mask) == pytest.approx(0.5)
    assert variance_calibration_factor(y, pred, std, mask) == pytest.approx(0.5)
    _, observed = quantile_coverage_curve(y, samples, torch.tensor([0.25]), mask)  # q = pred - 0.5
    assert observed.tolist() == [0.5]
    labels = torch.tensor([[1, 1], [0, 0]])
    scores = torch.tensor([[0.9, 0.0], [0.1, 1.0]])
    assert roc_auc(labels, scores, mask) == 1.0
    assert math.isnan(rmse(y, pred, torch.zeros_like(mask)))


def test_gaussian_nll_closed_form() -> None:
    assert gaussian_nll(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([1.0])) == pytest.approx(
        0.5 * math.log(2 * math.pi)
    )
    assert gaussian_nll(torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([2.0])) == pytest.approx(
        0.5 * math.log(2 * math.pi * 4) + 0.5
    )


def test_gaussian_crps_closed_form() -> None:
    # At the mean of N(0, 1): 2 phi(0) - 1/sqrt(pi) = (sqrt(2) - 1) / sqrt(pi).
    exact = (math.sqrt(2) - 1) / math.sqrt(math.pi)
    assert gaussian_crps(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([1.0])) == pytest.approx(
        exact, rel=1e-12
    )
    # CRPS scales with std and shifts with the mean.
    at_mean = gaussian_crps(torch.tensor([5.0]), torch.tensor([5.0]), torch.tensor([3.0]))
    assert at_mean == pytest.approx(3 * exact)
    # Far from the mean it tends to |y - mean| - std / sqrt(pi).
    assert gaussian_crps(torch.tensor([50.0]), torch.tensor([0.0]), torch.tensor([1.0])) == pytest.approx(
        50 - 1 / math.sqrt(math.pi)
    )


def test_sample_crps_matches_gaussian_crps_and_small_cases(generator: torch.Generator) -> None:
    y = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    samples = torch.randn(20000, 3, generator=generator, dtype=torch.float64)
    exact = gaussian_crps(y, torch.zeros(3), torch.ones(3))
    assert sample_crps(y, samples) == pytest.approx(exact, abs=0.01)
    # Two samples {0, 2} at y = 1: E|X - y| = 1, E|X - X'| over distinct pairs = 2 -> 1 - 1 = 0.
    assert sample_crps(torch.tensor([1.0]), torch.tensor([[0.0], [2.0]])) == pytest.approx(0.0)
    assert sample_crps(torch.tensor([1.0]), torch.tensor([[4.0]])) == pytest.approx(3.0)


def test_central_interval_and_coverage_near_nominal(generator: torch.Generator) -> None:
    lower, upper = central_interval(torch.tensor([1.0]), torch.tensor([2.0]), 0.95)
    assert lower.item() == pytest.approx(1 - 1.959963984540054 * 2)
    assert upper.item() == pytest.approx(1 + 1.959963984540054 * 2)
    y = torch.randn(20000, generator=generator)
    for level in (0.5, 0.9):
        lower, upper = central_interval(torch.zeros(()), torch.ones(()), level)
        assert interval_coverage(y, lower, upper) == pytest.approx(level, abs=0.015)
    samples = torch.randn(400, 2000, generator=generator)
    y = torch.randn(2000, generator=generator)
    lower, upper = sample_central_interval(samples, 0.9)
    assert lower.shape == (2000,)
    assert interval_coverage(y, lower, upper) == pytest.approx(0.9, abs=0.025)


def test_quantile_coverage_curve_is_diagonal_for_the_true_distribution(generator: torch.Generator) -> None:
    y = 2.0 + 0.5 * torch.randn(5000, generator=generator)
    levels, observed = quantile_coverage_curve(y, (torch.tensor(2.0), torch.tensor(0.5)))
    assert levels.shape == observed.shape == (19,)
    torch.testing.assert_close(observed, levels, atol=0.03, rtol=0)
    samples = 2.0 + 0.5 * torch.randn(300, 5000, generator=generator)
    _, from_samples = quantile_coverage_curve(y, samples)
    torch.testing.assert_close(from_samples, levels, atol=0.04, rtol=0)
    # Over-confident predictions give a curve flatter than the diagonal.
    _, narrow = quantile_coverage_curve(y, (torch.tensor(2.0), torch.tensor(0.1)))
    assert narrow[0] > levels[0] and narrow[-1] < levels[-1]


def test_roc_auc_perfect_reversed_random_and_ties(generator: torch.Generator) -> None:
    labels = torch.tensor([0, 0, 1, 1])
    assert roc_auc(labels, torch.tensor([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(labels, torch.tensor([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(labels, torch.full((4,), 0.5)) == 0.5
    # One tie between a positive and a negative counts one half: (1 + 1 + 0.5 + 1) / 4.
    assert roc_auc(labels, torch.tensor([0.1, 0.5, 0.5, 0.9])) == pytest.approx(0.875)
    many = torch.rand(20000, generator=generator) < 0.3
    assert roc_auc(many, torch.rand(20000, generator=generator)) == pytest.approx(0.5, abs=0.02)
    assert math.isnan(roc_auc(torch.zeros(5), torch.rand(5)))
    assert math.isnan(roc_auc(labels, torch.rand(4), mask=torch.tensor([1, 1, 0, 0])))


def test_variance_calibration_factor_recovers_inflation(generator: torch.Generator) -> None:
    mean = torch.randn(50000, generator=generator)
    var = 0.1 + torch.rand(50000, generator=generator)
    y = mean + (3.0 * var).sqrt() * torch.randn(50000, generator=generator)  # true variance 3 x var
    s = variance_calibration_factor(y, mean, var)
    assert s == pytest.approx(3.0, rel=0.03)
    z = (y - mean) / (var * s).sqrt()
    assert float(z.pow(2).mean()) == pytest.approx(1.0, rel=1e-9)


def test_bad_inputs_raise() -> None:
    y = torch.zeros(3)
    with pytest.raises(InvalidInputError, match="mask"):
        rmse(y, y, torch.ones(2))
    with pytest.raises(InvalidInputError, match="pred"):
        rmse(y, torch.zeros(4))
    with pytest.raises(InvalidInputError, match="std"):
        gaussian_crps(y, y, torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(InvalidInputError, match="y"):
        mape(y, y)
    with pytest.raises(InvalidInputError, match="level"):
        central_interval(y, torch.ones(3), 1.0)
    with pytest.raises(InvalidInputError, match="labels"):
        roc_auc(torch.tensor([0, 2]), torch.tensor([0.1, 0.2]))
    with pytest.raises(InvalidInputError, match="samples"):
        sample_crps(y, torch.zeros(5, 4))
    with pytest.raises(InvalidInputError, match="levels"):
        quantile_coverage_curve(y, (y, torch.ones(3)), torch.tensor([0.0, 0.5]))
    with pytest.raises(InvalidInputError, match="lower"):
        interval_coverage(y, torch.ones(3), torch.zeros(3))
