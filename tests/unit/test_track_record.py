"""The agent's track record: forecast misses and failures smoothed over the target region."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interphase.agent.track_record import Failures, Misses


def _misses(points: list[list[float]], misses: list[float]) -> Misses:
    return Misses(points=np.asarray(points, dtype=float), misses=np.asarray(misses, dtype=float),
                  forecast_std=np.full(len(misses), 0.01), radius=0.2, floor_std=0.005, prior_std=0.05)


def test_misses_correct_their_neighbourhood_and_leave_the_rest_to_the_pooled_bias() -> None:
    record = _misses([[0.1, 0.1]] * 3 + [[0.9, 0.9]], [-0.05, -0.05, -0.05, 0.0])
    assert record.bias == pytest.approx(-0.15 / 6.0)  # shrunk as if two more had missed by nothing
    near, far = record.local_bias(torch.tensor([[0.1, 0.1], [0.5, 0.5]], dtype=torch.float64))
    # Three tests at the point: the pooled bias plus 3/4 of their residual from it.
    assert float(near) == pytest.approx(-0.025 + 3 * (-0.025) / 4.0, abs=1e-6)
    assert abs(float(far) - record.bias) < 0.002
    assert record.extra_std == pytest.approx(np.sqrt(np.mean((record.misses - record.bias) ** 2) - 1e-4))


def test_few_misses_keep_the_prior_spread_and_no_misses_give_no_bias() -> None:
    assert _misses([[0.5]], [-0.2]).extra_std == 0.05
    empty = _misses([], [])
    assert empty.bias == 0.0 and float(empty.local_bias(torch.zeros(1, 3)).abs().max()) == 0.0


def test_failures_rise_near_failed_tests_and_count_stopped_tests_by_their_exposure() -> None:
    failures = Failures(points=np.asarray([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]),
                        failed=np.asarray([1.0, 1.0, 0.0]), exposure=np.asarray([1.0, 1.0, 0.25]), radius=0.2)
    assert failures.base_rate == pytest.approx(2.5 / 7.25)
    near, far, stopped = failures.local_rate(torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]],
                                                          dtype=torch.float64))
    assert float(near) == pytest.approx((2.0 + failures.base_rate) / 3.0, abs=1e-6)
    assert float(far) == pytest.approx(failures.base_rate, rel=0.02)
    assert float(stopped) == pytest.approx(failures.base_rate / 1.25, rel=0.01)  # a quarter of a survivor
