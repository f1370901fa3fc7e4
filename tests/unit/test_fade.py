"""FadeCalibration: where a running test's fade heads, calibrated on full-length trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from interphase.agent.fade import FadeCalibration
from interphase.agent.track_record import horizon_estimate

HORIZON = 200
CYCLES = np.arange(1, HORIZON + 1, dtype=float)


def _power_law(rate: float, exponent: float = 0.5) -> np.ndarray:
    """Retention ``rate * n^exponent`` below its first cycle's 1: the law the estimate carries on."""
    values = 1.0 - rate * CYCLES ** exponent
    values[0] = 1.0
    return values


def _levelling(rate: float) -> np.ndarray:
    """Retention whose fade slows more than any power law: ``rate * log(n)``."""
    return 1.0 - rate * np.log(CYCLES)


def test_on_power_laws_the_calibration_adds_nothing_to_the_estimate() -> None:
    fade = FadeCalibration([(CYCLES, _power_law(r)) for r in np.linspace(0.002, 0.006, 8)],
                           horizon=HORIZON, scatter_std=0.005)
    ratios = fade.ratios(40)
    assert ratios is not None and ratios.shape == (8,)
    assert np.allclose(ratios, 0.0, atol=0.02)
    test = _power_law(0.004)
    median, spread = fade.final(CYCLES[:40], test[:40])
    assert median == pytest.approx(test[-1], abs=2e-3)
    assert spread == pytest.approx(0.005)  # the ratios agree, so a cell's own scatter is all that is left


def test_a_fade_the_estimate_misreads_is_pulled_back_to_where_it_ends() -> None:
    fade = FadeCalibration([(CYCLES, _levelling(r)) for r in np.linspace(0.005, 0.02, 10)],
                           horizon=HORIZON, scatter_std=0.002)
    test = _levelling(0.012)
    estimate = horizon_estimate(CYCLES[:40], test[:40], HORIZON)
    # log(n) fits an exponent under the least (0.2), so the raw estimate carries the fade too far
    assert estimate is not None and estimate < test[-1] - 0.01
    median, _ = fade.final(CYCLES[:40], test[:40])
    assert abs(median - test[-1]) < 0.2 * abs(estimate - test[-1])
    ratios = fade.ratios(40)
    assert ratios is not None and np.all(ratios < 0)


def test_probability_averages_the_target_over_the_finals() -> None:
    fade = FadeCalibration([(CYCLES, _power_law(r)) for r in np.linspace(0.002, 0.006, 8)],
                           horizon=HORIZON, scatter_std=0.005)
    test = _power_law(0.003)  # ends near 0.961
    from scipy.stats import norm

    def meets(bound: float):
        return lambda finals, std: 1.0 - norm.cdf((bound - finals) / std)

    high = fade.probability(CYCLES[:40], test[:40], meets(test[-1] - 0.02))
    low = fade.probability(CYCLES[:40], test[:40], meets(test[-1] + 0.02))
    even = fade.probability(CYCLES[:40], test[:40], meets(test[-1]))
    assert high > 0.99 and low < 0.01 and even == pytest.approx(0.5, abs=0.2)


def test_too_few_trajectories_or_cycles_give_no_calibration() -> None:
    few = FadeCalibration([(CYCLES, _power_law(0.004))] * 3, horizon=HORIZON, scatter_std=0.005)
    assert few.ratios(40) is None
    assert few.final(CYCLES[:40], _power_law(0.004)[:40]) is None
    enough = FadeCalibration([(CYCLES, _power_law(0.004))] * 8, horizon=HORIZON, scatter_std=0.005)
    assert enough.final(CYCLES[:6], _power_law(0.004)[:6]) is None  # fewer than five cycles from cycle 5
    assert enough.ratios(HORIZON) is None  # a cut at the horizon leaves nothing to estimate


def test_a_rising_observable_is_calibrated_the_same_way() -> None:
    rising = [(CYCLES, 2.0 - _levelling(r)) for r in np.linspace(0.005, 0.02, 10)]
    fade = FadeCalibration(rising, horizon=HORIZON, scatter_std=0.002)
    test = 2.0 - _levelling(0.012)
    estimate = horizon_estimate(CYCLES[:40], test[:40], HORIZON)
    median, _ = fade.final(CYCLES[:40], test[:40])
    assert estimate is not None and estimate > test[-1] + 0.01
    assert abs(median - test[-1]) < 0.2 * abs(estimate - test[-1])
