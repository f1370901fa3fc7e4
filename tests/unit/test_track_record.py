"""The agent's track record: forecast misses and failures smoothed over the target region."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interphase.agent.track_record import Failures, Misses, pooled_std


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


def test_a_model_of_the_misses_replaces_the_kernel_and_keeps_the_shape() -> None:
    record = Misses(points=np.zeros((1, 3)), misses=np.zeros(1), forecast_std=np.zeros(1), radius=0.2,
                    floor_std=0.005, prior_std=0.05, model=lambda x: -0.1 * x[:, 0] + 0.01 * x[:, -1])
    z = torch.tensor([[[0.5, 0.0, 0.0], [1.0, 0.3, 0.3]]], dtype=torch.float64)  # 1 x 2 x d
    bias = record.local_bias(z, torch.zeros(1, 2))  # forecasts at level 0.5
    assert bias.shape == (1, 2) and bias.flatten().tolist() == pytest.approx([-0.045, -0.095])
    with pytest.raises(ValueError, match="forecast"):
        record.local_bias(z)


def test_the_agents_miss_model_learns_which_variable_carries_the_misses() -> None:
    from interphase.agent.strategies.interphase_agent import InterphaseAgent

    rng = np.random.default_rng(0)
    points = rng.random((24, 6))
    misses = np.where(points[:, 0] < 0.4, -0.06, 0.0) + rng.normal(0.0, 0.003, 24)  # cold cells come in low
    record = Misses(points=points, misses=misses, forecast_std=np.full(24, 0.01), radius=0.25,
                    floor_std=0.005, prior_std=0.05)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a campaign: a GP this small only loses time to a second thread
    try:
        expected, spread = InterphaseAgent._miss_model(record, seed=0)
        fresh = torch.as_tensor(rng.random((200, 6)))
        predicted = expected(record.inputs(fresh, torch.zeros(200))).numpy()
    finally:
        torch.set_num_threads(threads)
    cold = fresh[:, 0].numpy() < 0.3
    warm = fresh[:, 0].numpy() > 0.5
    assert predicted[cold].mean() < -0.04 and abs(predicted[warm].mean()) < 0.015
    # The isotropic kernel, by contrast, cannot tell: six variables blur the one that matters.
    kernel = record.local_bias(fresh).numpy()
    assert kernel[cold].mean() - kernel[warm].mean() > predicted[cold].mean() - predicted[warm].mean()


def test_the_miss_models_uncertainty_is_small_next_to_the_tests_and_wide_far_from_them() -> None:
    from interphase.agent.strategies.interphase_agent import InterphaseAgent

    rng = np.random.default_rng(1)
    points = 0.4 * rng.random((16, 3))  # every test in one corner of the region
    misses = -0.03 + rng.normal(0.0, 0.005, 16)
    record = Misses(points=points, misses=misses, forecast_std=np.full(16, 0.01), radius=0.25,
                    floor_std=0.001, prior_std=0.05)
    expected, spread = InterphaseAgent._miss_model(record, seed=0)
    record = Misses(**{**record.__dict__, "model": expected, "model_std": spread})
    near = record.local_std(torch.as_tensor(points[:4]), torch.zeros(4))
    far = record.local_std(torch.full((4, 3), 0.95, dtype=torch.float64), torch.zeros(4))
    assert float(near.max()) < 0.5 * float(far.min())
    assert float(far.min()) >= record.floor_std
    # Without a model the pooled spread stands everywhere.
    pooled = Misses(points=points, misses=misses, forecast_std=np.full(16, 0.01), radius=0.25,
                    floor_std=0.001, prior_std=0.05)
    assert pooled.local_std(torch.zeros(2, 3)).tolist() == pytest.approx([pooled.extra_std] * 2)


def test_the_horizon_estimate_follows_a_power_law_fade_and_clips_its_exponent() -> None:
    from interphase.agent.track_record import horizon_estimate

    cycles = np.arange(1, 41, dtype=float)
    sqrt_fade = 1.0 - 0.01 * np.sqrt(cycles - 1.0)  # 0 at cycle 1, diffusion-limited growth
    estimate = horizon_estimate(cycles, sqrt_fade, 200.0)
    # The fit is of the change from cycle 1 against the cycle number: close to 0.5 here.
    assert estimate == pytest.approx(1.0 - 0.01 * np.sqrt(39.0) * np.sqrt(200.0 / 40.0), abs=0.01)
    quadratic = 1.0 - 2e-5 * cycles ** 2  # faster than linear: clipped to a = 1
    first = float(quadratic[0])
    assert horizon_estimate(cycles, quadratic, 200.0) == pytest.approx(
        first - (first - float(quadratic[-3:].mean())) * 5.0, abs=1e-9)
    flat = np.ones(40)
    assert horizon_estimate(cycles, flat, 200.0) == pytest.approx(1.0)


def test_the_horizon_estimate_needs_cycles_to_fit_and_stops_at_the_horizon() -> None:
    from interphase.agent.track_record import horizon_estimate

    assert horizon_estimate(np.arange(1.0, 7.0), np.linspace(1.0, 0.99, 6), 200.0) is None  # 2 cycles from 5
    full = np.linspace(1.0, 0.9, 200)
    assert horizon_estimate(np.arange(1.0, 201.0), full, 200.0) == pytest.approx(float(full[-3:].mean()))
    rising = 1.0 + 0.01 * np.sqrt(np.arange(40.0))  # resistance grows the same way
    assert horizon_estimate(np.arange(1.0, 41.0), rising, 160.0) > float(rising[-3:].mean()) + 0.05


def test_the_miss_model_learns_that_misses_follow_the_forecast_they_are_against() -> None:
    """Picks forecast low (an uncertain corner) came in at the same 0.935 as those forecast high.

    The correction for a design forecast at 0.94 is then about nothing, not the mean miss of the
    low forecasts (``sei-life`` seed 2 at af3b392 added +0.045 to a 0.939 forecast this way).
    """
    from interphase.agent.strategies.interphase_agent import InterphaseAgent

    rng = np.random.default_rng(3)
    points = rng.random((10, 8))
    forecasts = np.linspace(0.86, 0.96, 10)
    misses = 0.935 - forecasts + rng.normal(0.0, 0.003, 10)
    record = Misses(points=points, misses=misses, forecast_std=np.full(10, 0.02), radius=0.25,
                    floor_std=0.005, prior_std=0.05, forecasts=forecasts, level_centre=0.945,
                    level_scale=0.05)
    expected, spread = InterphaseAgent._miss_model(record, seed=0)
    record = Misses(**{**record.__dict__, "model": expected, "model_std": spread})
    fresh = torch.as_tensor(rng.random((50, 8)))
    at_094 = record.local_bias(fresh, torch.full((50,), 0.94)).numpy()
    at_087 = record.local_bias(fresh, torch.full((50,), 0.87)).numpy()
    assert misses.mean() > 0.02  # what a correction without the forecast would add everywhere
    assert abs(at_094.mean()) < 0.012
    assert at_087.mean() > 0.045


def test_the_miss_model_smooths_misses_as_far_as_their_doubt_allows() -> None:
    """Stopped tests' estimates scatter by their extrapolation's doubt; the model does not chase it."""
    from interphase.agent.strategies.interphase_agent import InterphaseAgent
    from interphase.agent.track_record import estimate_std

    rng = np.random.default_rng(5)
    points = rng.random((10, 8))
    doubt = np.full(10, 0.03)
    misses = -0.1 + rng.normal(0.0, 0.03, 10)
    forecasts = np.full(10, 0.98)
    kept = {"points": points, "misses": misses, "forecast_std": np.full(10, 0.02), "radius": 0.25,
            "floor_std": 0.005, "prior_std": 0.05, "forecasts": forecasts, "level_centre": 0.945,
            "level_scale": 0.05}
    fitted = {}
    for name, noise in (("known doubt", doubt), ("fitted noise", None)):
        record = Misses(**kept, noise_std=noise)
        expected, _ = InterphaseAgent._miss_model(record, seed=0)
        fitted[name] = expected(record.inputs(points, forecasts)).numpy()
    assert fitted["fitted noise"].std() > 0.9 * misses.std()  # a fitted noise interpolated every one
    assert fitted["known doubt"].std() < 0.5 * misses.std()
    assert abs(fitted["known doubt"].mean() - misses.mean()) < 0.02
    # A quarter of the distance an estimate carried the value, and never below the floor.
    assert estimate_std(0.94, 0.86, 0.005) == pytest.approx(0.02)
    assert estimate_std(0.95, 0.949, 0.005) == 0.005


def test_the_pooled_scatter_of_a_designs_cells_ignores_designs_tested_once() -> None:
    assert pooled_std([[0.95], [0.97]]) is None  # no design tested twice: nothing to measure
    # A cold design's flat and fading cells (1.00, 0.93) and a warm one's alike cells (0.956, 0.958):
    # squares 0.00245 + 0.000002 over 2 degrees of freedom.
    assert pooled_std([[1.00, 0.93], [0.956, 0.958], [0.99]]) == pytest.approx(np.sqrt(0.002452 / 2))
    assert pooled_std([[0.95, 0.95, 0.95]]) == pytest.approx(0.0, abs=1e-12)
