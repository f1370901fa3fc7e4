"""The sqrt(t) + t law and the GP endpoint baseline."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from interphase.models.baselines import (
    GPEndpointBaseline,
    SqrtTLaw,
    fit_sqrt_t_law,
    sqrt_t_fit,
    sqrt_t_fit_many,
)
from interphase.schema import InvalidInputError

pytestmark = pytest.mark.timeout(40)


def test_sqrt_t_law_recovers_noiseless_coefficients_and_extrapolates() -> None:
    truth = SqrtTLaw(a=0.004, b=0.00015)
    cycles = np.arange(1, 51)
    law = fit_sqrt_t_law(cycles, truth.predict(cycles))
    assert law.a == pytest.approx(truth.a, abs=1e-6)
    assert law.b == pytest.approx(truth.b, abs=1e-6)
    assert sqrt_t_fit(cycles, truth.predict(cycles), horizon=500) == pytest.approx(
        float(truth.predict(500)), abs=1e-6
    )


def test_sqrt_t_law_keeps_coefficients_non_negative() -> None:
    cycles = np.arange(1, 30)
    rising = 1.0 - 0.01 * np.sqrt(cycles) + 0.0005 * cycles  # a linear gain the law cannot have
    law = fit_sqrt_t_law(cycles, rising)
    assert law.a >= 0 and law.b == 0.0
    assert fit_sqrt_t_law(cycles, np.full(cycles.shape, 1.01)) == SqrtTLaw(a=0.0, b=0.0)


def test_short_prefixes_fit_the_sqrt_term_only() -> None:
    one = fit_sqrt_t_law(np.array([4.0]), np.array([0.98]))
    assert one == SqrtTLaw(a=pytest.approx(0.01), b=0.0)
    two = fit_sqrt_t_law(np.array([1.0, 4.0]), np.array([0.99, 0.98]))
    assert two.b == 0.0 and two.a == pytest.approx(0.01)
    # Cycle 0 carries no information: retention there is 1 by construction.
    assert fit_sqrt_t_law(np.array([0.0]), np.array([1.0])) == SqrtTLaw(a=0.0, b=0.0)
    assert sqrt_t_fit(np.array([0.0]), np.array([1.0]), horizon=100) == 1.0


def test_sqrt_t_fit_many_matches_the_single_fit() -> None:
    rng = np.random.default_rng(0)
    steps = 40
    cycles = np.arange(1, steps + 1)
    retention = 1.0 - 0.005 * np.sqrt(cycles) - 0.0002 * cycles + 0.001 * rng.standard_normal((6, steps))
    mask = np.zeros((6, steps))
    for row, observed in enumerate([40, 10, 4, 2, 1, 0]):
        mask[row, :observed] = 1
    predictions = sqrt_t_fit_many(retention, horizon=400, mask=mask)
    assert predictions.shape == (6,)
    for row, observed in enumerate([40, 10, 4, 2, 1]):
        expected = sqrt_t_fit(cycles[:observed], retention[row, :observed], horizon=400)
        assert predictions[row] == pytest.approx(expected)
    assert predictions[5] == 1.0
    per_record = sqrt_t_fit_many(retention, horizon=np.arange(100, 700, 100), mask=mask)
    assert per_record[0] == pytest.approx(sqrt_t_fit(cycles, retention[0], horizon=100))


def test_sqrt_t_bad_inputs_raise() -> None:
    with pytest.raises(InvalidInputError, match="cycles"):
        fit_sqrt_t_law(np.array([]), np.array([]))
    with pytest.raises(InvalidInputError, match="cycles"):
        fit_sqrt_t_law(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(InvalidInputError, match="retention"):
        fit_sqrt_t_law(np.array([1.0]), np.array([np.nan]))
    with pytest.raises(InvalidInputError, match="horizon"):
        sqrt_t_fit(np.array([1.0]), np.array([0.99]), horizon=0)
    with pytest.raises(InvalidInputError, match="mask"):
        sqrt_t_fit_many(np.ones((2, 3)), horizon=10, mask=np.ones((2, 4)))


def smooth(x: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * x[:, 0]) + 0.5 * x[:, 1] ** 2


def test_gp_interpolates_and_is_less_certain_far_from_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 0.5, size=(30, 2))  # data only in the lower-left quarter
    gp = GPEndpointBaseline(seed=0).fit(x, smooth(x))
    inside = rng.uniform(0.1, 0.4, size=(20, 2))
    mean, std = gp.predict(inside)
    assert mean.shape == std.shape == (20,)
    assert np.abs(mean - smooth(inside)).max() < 0.05
    _, far_std = gp.predict(np.array([[0.95, 0.95], [1.0, 1.0]]), observation_noise=False)
    _, near_std = gp.predict(inside, observation_noise=False)
    assert far_std.min() > 5 * near_std.max()


def test_gp_is_deterministic_for_a_seed_and_validates_inputs() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(12, 3))
    y = x.sum(axis=1) + 0.01 * rng.standard_normal(12)
    query = rng.uniform(size=(5, 3))
    first = GPEndpointBaseline(seed=3).fit(x, y).predict(query)
    second = GPEndpointBaseline(seed=3).fit(x, y).predict(query)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    with pytest.raises(InvalidInputError, match="fit"):
        GPEndpointBaseline().predict(query)
    with pytest.raises(InvalidInputError, match="x"):
        GPEndpointBaseline().fit(x + 1.0, y)
    with pytest.raises(InvalidInputError, match="x"):
        GPEndpointBaseline().fit(x, y[:-1])
    with pytest.raises(InvalidInputError, match="bounds"):
        GPEndpointBaseline(bounds=np.ones((2, 3))).fit(x, y)


def test_gp_takes_native_bounds() -> None:
    rng = np.random.default_rng(3)
    unit = rng.uniform(size=(15, 2))
    lower, upper = np.array([10.0, 0.0]), np.array([45.0, 2.0])
    native = GPEndpointBaseline(bounds=np.stack([lower, upper]), seed=0)
    native.fit(lower + unit * (upper - lower), smooth(unit))
    reference = GPEndpointBaseline(seed=0).fit(unit, smooth(unit))
    query = rng.uniform(size=(4, 2))
    np.testing.assert_allclose(
        native.predict(lower + query * (upper - lower))[0], reference.predict(query)[0], atol=1e-6
    )


def test_baselines_module_imports_neither_torch_nor_botorch() -> None:
    code = (
        "import json, sys\nimport interphase.models.baselines\n"
        "print(json.dumps([m for m in ('torch', 'botorch', 'gpytorch') if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []
