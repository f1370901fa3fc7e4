"""Vectorised ensemble training, knot interpolation, per-source calibration and endpoint predictions.

The network is trained on the toy world of ``test_model_network`` (24 cycles, two sources).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from tests.unit.test_model_network import CYCLES, LAB, RETENTION, SIM, build_net, toy_world
from torch import Tensor

from interphase.models.dynamics import interpolation_matrix, knot_count, window_means
from interphase.models.ensemble import DeepEnsemble, EnsembleConfig
from interphase.models.training import TrainConfig, fit_members, step_size_factor

pytestmark = pytest.mark.timeout(120)


def test_knots_interpolate_linearly_onto_cycles() -> None:
    weights = interpolation_matrix(12, 5)
    assert knot_count(12, 5) == 3 and weights.shape == (12, 4)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(12))
    knots = torch.tensor([0.0, 5.0, 10.0, 15.0])  # a straight line through the knots
    torch.testing.assert_close(weights @ knots, torch.arange(1.0, 13.0))
    assert torch.equal(interpolation_matrix(4, 1), torch.eye(5)[1:])  # stride 1: knot t + 1 exactly


def test_window_means_average_each_step_and_pad_the_last() -> None:
    u = torch.arange(7.0).view(1, 7, 1)
    torch.testing.assert_close(window_means(u, 3), torch.tensor([[[1.0], [4.0], [6.0]]]))


def test_members_train_together_exactly_as_apart() -> None:
    toy = toy_world(32, seed=4)
    torch.manual_seed(0)
    members = [build_net(toy.batch, hidden=16, depth=1) for _ in range(3)]
    apart = copy.deepcopy(members)
    # every record weighs in every member, so that the minibatches are the same
    weights = torch.randint(1, 4, (3, len(toy.batch))).float()
    config = TrainConfig(batch_size=16, learning_rate=1e-2)
    together = fit_members(members, toy.batch, weights, config, epochs=3, seed=5)
    for k, net in enumerate(apart):
        alone = fit_members([net], toy.batch, weights[k:k + 1], config, epochs=3, seed=5)
        for (name, a), b in zip(members[k].named_parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
        assert together[k] == pytest.approx(alone[0], rel=1e-4)


def _twins(world_seed: int, init_seed: int) -> tuple[object, torch.nn.Module, torch.nn.Module, Tensor]:
    """A 16-record toy world, one small network and its copy, and weights of 1 on every record."""
    toy = toy_world(16, seed=world_seed)
    torch.manual_seed(init_seed)
    net = build_net(toy.batch, hidden=8, depth=1)
    return toy, net, copy.deepcopy(net), torch.ones(1, len(toy.batch))


def test_a_member_with_zero_weight_on_a_record_ignores_it() -> None:
    toy, net, twin, weights = _twins(6, 1)
    weights[0, 0] = 0.0
    changed = copy.deepcopy(toy.batch)
    changed.y[0] = changed.y[0] + 5.0  # junk in the record the member does not weigh
    config = TrainConfig(batch_size=len(toy.batch))
    fit_members([net], toy.batch, weights, config, epochs=2, seed=0)
    fit_members([twin], changed, weights, config, epochs=2, seed=0)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def _trained_ensemble() -> tuple[DeepEnsemble, object]:
    toy = toy_world(96, seed=7, unlabelled=0.0)
    config = EnsembleConfig(members=2, train=TrainConfig(epochs=40, batch_size=32, learning_rate=1e-2))
    ensemble = DeepEnsemble(lambda: build_net(toy.batch, hidden=16, depth=1), config)
    ensemble.fit(toy.batch, lambda k: torch.arange(len(toy.batch)))
    return ensemble, toy


def test_calibration_brings_each_source_to_its_levels() -> None:
    ensemble, toy = _trained_ensemble()
    batch = toy.batch
    ensemble.calibrate(batch, CYCLES, n_sources=3, min_values=50)
    table = ensemble.variance_factors
    assert table.shape == (3, 3, 2) and (table > 0).all()  # source x observable x (50 %, 90 %) interval
    assert not torch.equal(table[SIM], table[LAB])  # factors per source, not pooled ones
    prediction = ensemble.predict(batch, CYCLES, n_samples=16)
    q = prediction.quantiles  # at 5, 25, 50, 75, 95 %
    assert (q.diff(dim=0) >= 0).all()  # the two factors never make quantiles cross
    for source in (SIM, LAB):
        keep = batch.source == source
        mask = batch.y_mask[keep] > 0
        y = batch.y[keep][mask]
        for (low, high), level in (((q[0], q[-1]), 0.9), ((q[1], q[3]), 0.5)):
            covered = float(((y >= low[keep][mask]) & (y <= high[keep][mask])).float().mean())
            assert abs(covered - level) < 0.06, (source, level, covered)


def test_predicting_some_cycles_matches_the_whole_trajectory() -> None:
    ensemble, toy = _trained_ensemble()
    batch = toy.batch
    whole = ensemble.predict(batch, CYCLES, n_samples=4, seed=3)
    cycles = torch.tensor([CYCLES, 3])
    some = ensemble.predict(batch, CYCLES, n_samples=4, seed=3, cycles=cycles)
    assert some.mean.shape == (len(batch), 2, 3)
    torch.testing.assert_close(some.mean, whole.mean[:, cycles - 1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(some.epistemic_std, whole.epistemic_std[:, cycles - 1], rtol=1e-4, atol=1e-6)
    assert (some.mean[..., RETENTION] <= 1.0).all()


def test_the_step_size_holds_then_falls_on_a_cosine_to_its_final_share() -> None:
    config = TrainConfig(learning_rate=1e-2, anneal_share=0.5, final_lr_share=0.1)
    factors = [step_size_factor(step, 11, config) for step in range(11)]
    assert factors[:6] == [1.0] * 6  # the first half of the steps: the full step size
    assert factors[-1] == pytest.approx(0.1)
    assert factors[7] == pytest.approx(0.1 + 0.9 * 0.5 * (1.0 + math.cos(0.4 * math.pi)))  # 2 of 5 down
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))
    assert step_size_factor(10, 11, config.model_copy(update={"anneal_share": 0.0})) == 1.0


def test_a_fit_takes_its_last_steps_at_the_annealed_step_size() -> None:
    # Full-batch steps: annealed over both steps to a millionth, the second step barely moves
    # the weights, so two epochs end where one epoch at the full step size does.
    toy, one, two, weights = _twins(8, 2)
    fit_members([one], toy.batch, weights, TrainConfig(batch_size=16, anneal_share=0.0), epochs=1, seed=3)
    fit_members([two], toy.batch, weights, TrainConfig(batch_size=16, anneal_share=1.0, final_lr_share=1e-6),
                epochs=2, seed=3)
    with torch.no_grad():
        pairs = zip(one.parameters(), two.parameters(), strict=True)
        moved = max(float((a - b).abs().max()) for a, b in pairs)
    assert moved < 1e-5, moved
