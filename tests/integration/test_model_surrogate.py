"""The surrogate on a real store: PyBaMM and lab-cell runs of the sei-life world, designs without
results, predictions and their bounds, artifacts, epistemic behaviour, refits and the BoTorch bridge.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from interphase.models.acquisition_bridge import (
    FAILURE_LOGIT,
    botorch_model,
    endpoint_sampler,
    failure_constraint,
    failure_probability,
)
from interphase.models.config import NetConfig
from interphase.models.dataset import TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.surrogate import ARTIFACT_KIND, Surrogate
from interphase.models.training import TrainConfig
from interphase.schema import CampaignSpec, Design, DesignSpace, InvalidInputError, NotFoundError, Protocol
from interphase.sources import run_safely, world_source
from interphase.sources.world import load_world
from interphase.store import Store

with warnings.catch_warnings():  # the bridge imported BoTorch quietly; this is belt and braces
    warnings.filterwarnings(
        "ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning
    )
    from botorch.acquisition import qLogExpectedImprovement
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.optim import optimize_acqf

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
CAPACITY, RETENTION, RESISTANCE, SEI = ("Discharge capacity [A.h]", "Capacity retention", "Resistance [Ohm]",
                                         "SEI thickness [m]")
# The observables the model trains on. The SPM also reports loss of active material, constant (0) in
# a model without that mechanism; such a column dominates the likelihood and the members then
# ignore the design, so it is left out here.
OBSERVABLES = [CAPACITY, RESISTANCE, RETENTION, SEI]
CYCLES = 5
CAMPAIGN = "surrogate"
SPM, LAB = "pybamm-spm", "lab-cell"
N_INNER = 32  # SPM runs inside [0.25, 0.75]^d, the training hull of the epistemic test


@dataclass(frozen=True)
class Fixture:
    space: DesignSpace
    protocol: Protocol
    store: Store
    dataset: TrajectoryDataset
    inner_rows: torch.Tensor  # records with a result whose design lies in [0.25, 0.75]^d
    unlabelled: list[Design]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    """A SQLite store: 10 + 32 SPM runs, 4 lab-cell runs and 10 designs without results."""
    torch.set_num_threads(1)
    world = load_world("sei-life")
    space = world.design_space
    protocol = world.protocol.model_copy(update={"n_cycles": CYCLES})
    designs = space.sample_sobol(16, seed=1)
    inner = space.from_unit_cube(0.25 + 0.5 * space.to_unit_cube(space.sample_sobol(N_INNER, seed=3)))
    unlabelled = space.sample_sobol(16, seed=7)[:10]
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('surrogate') / 'interphase.db'}")
    store.init()
    store.create_campaign(CampaignSpec(name=CAMPAIGN, design_space=space, protocol=protocol))
    spm, lab = world_source(world, SPM), world_source(world, LAB)
    for source in (spm, lab):
        store.register_source(source.spec)
    runs = [(spm, d, i) for i, d in enumerate(designs[:10])] + [(spm, d, 50 + i) for i, d in enumerate(inner)]
    runs += [(lab, d, 100 + i) for i, d in enumerate(designs[:4])]
    for source, design, seed in runs:
        result = run_safely(source, design, protocol, seed=seed)
        store.submit_result(result, idempotency_key=f"{source.spec.name}-{seed}", campaign=CAMPAIGN)
    store.add_designs(CAMPAIGN, unlabelled)
    dataset = TrajectoryDataset.from_store(store, space, observables=OBSERVABLES)
    cube = torch.from_numpy(space.to_unit_cube([r.design for r in dataset.records]))
    inside = ((cube >= 0.25) & (cube <= 0.75)).all(dim=1) & (dataset.batch.has_result > 0)
    try:
        yield Fixture(space, protocol, store, dataset, torch.nonzero(inside).squeeze(-1), unlabelled)
    finally:
        store.close()


TINY_NET = NetConfig(hidden=16, latent_dim=4, depth=1, typical_cycles=CYCLES)


@pytest.fixture(scope="module")
def surrogate(data: Fixture) -> Surrogate:
    torch.set_num_threads(1)
    train = TrainConfig(epochs=20, warm_epochs=5, learning_rate=1e-2)
    config = EnsembleConfig(members=2, net=TINY_NET, train=train)
    return Surrogate.fit(data.dataset, config)


def test_dataset_has_every_kind_of_record(data: Fixture) -> None:
    sources = [r.source for r in data.dataset.records]
    assert sources.count(SPM) == 10 + N_INNER and sources.count(LAB) == 4 and sources.count("<none>") == 10
    assert len(data.inner_rows) == N_INNER and data.dataset.observables == OBSERVABLES
    without = [r.design.values for r in data.dataset.records if r.result_id is None]
    assert sorted(map(sorted, (v.items() for v in without))) == sorted(
        map(sorted, (d.values.items() for d in data.unlabelled)))


def test_predict_shapes_and_uncertainty(data: Fixture, surrogate: Surrogate) -> None:
    designs = data.space.sample_sobol(8, seed=21)
    prediction = surrogate.predict(designs, source=LAB, protocol=data.protocol, n_samples=16)
    shape = (8, CYCLES, len(OBSERVABLES))
    assert prediction.mean.shape == prediction.aleatoric_std.shape == prediction.epistemic_std.shape == shape
    assert prediction.quantiles.shape == (len(prediction.levels), *shape)
    assert bool((prediction.aleatoric_std >= 0).all()) and bool((prediction.epistemic_std >= 0).all())
    assert bool((prediction.quantiles.diff(dim=0) >= 0).all())
    q05, q95 = prediction.quantiles[0], prediction.quantiles[-1]
    assert prediction.levels[0] == pytest.approx(0.05) and prediction.levels[-1] == pytest.approx(0.95)
    within = ((q05 <= prediction.mean) & (prediction.mean <= q95)).float().mean()
    assert within >= 0.9
    longer = surrogate.predict(designs[:2], source=SPM, protocol=data.protocol, horizon=8, n_samples=4)
    assert longer.mean.shape == (2, 8, len(OBSERVABLES))


def test_predictions_respect_physics_bounds(data: Fixture, surrogate: Surrogate) -> None:
    corners = data.space.from_unit_cube(np.random.default_rng(0).integers(0, 2, (8, data.space.dim)))
    designs = [*data.space.sample_sobol(8, seed=5), *corners]
    for source in (SPM, LAB):
        mean = surrogate.predict(designs, source=source, protocol=data.protocol, horizon=12, n_samples=8).mean
        assert bool((mean[..., OBSERVABLES.index(RETENTION)] <= 1.0 + 1e-6).all())
        assert bool((mean[..., OBSERVABLES.index(CAPACITY)] >= 0).all())
        assert bool((mean[..., OBSERVABLES.index(RESISTANCE)] >= 0).all())
        sei = mean[..., OBSERVABLES.index(SEI)]
        assert bool((sei >= 0).all()) and bool((sei.diff(dim=1) >= -1e-6 * sei.abs().max()).all())


def test_save_load_round_trip(data: Fixture, surrogate: Surrogate, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'models.db'}")
    store.init()
    try:
        with pytest.raises(InvalidInputError):
            Surrogate.load(store)  # no model yet
        sha = surrogate.save(store, metadata={"note": "test"})
        [artifact] = store.list_artifacts(ARTIFACT_KIND)
        assert artifact.sha256 == sha and artifact.metadata["note"] == "test"
        assert artifact.metadata["snapshot_hash"] == surrogate.snapshot_hash == data.dataset.snapshot_hash()
        loaded = Surrogate.load(store, sha)
        designs = data.space.sample_sobol(4, seed=9)
        before = surrogate.predict(designs, source=LAB, protocol=data.protocol, n_samples=8, seed=3)
        after = loaded.predict(designs, source=LAB, protocol=data.protocol, n_samples=8, seed=3)
        for name in ("mean", "aleatoric_std", "epistemic_std", "quantiles"):
            assert torch.equal(getattr(before, name), getattr(after, name)), name
        assert loaded.observables == surrogate.observables and loaded.source_names == surrogate.source_names
        assert loaded.snapshot_hash == surrogate.snapshot_hash and loaded.horizon == surrogate.horizon

        other = Surrogate.from_payload(surrogate.payload())
        other.refit(data.dataset)  # different weights, so a different artifact
        newer = other.save(store)
        assert newer != sha
        newest = Surrogate.load(store).predict(designs, source=LAB, protocol=data.protocol, n_samples=8,
                                               seed=3)
        expected = other.predict(designs, source=LAB, protocol=data.protocol, n_samples=8, seed=3)
        assert torch.equal(newest.mean, expected.mean) and not torch.equal(newest.mean, before.mean)
        with pytest.raises(NotFoundError):
            Surrogate.load(store, "0" * 64)
    finally:
        store.close()


def test_epistemic_std_is_larger_outside_the_training_hull(data: Fixture) -> None:
    # Members are trained only on designs in [0.25, 0.75]^d; inside that box they agree, at the
    # corners of the cube they extrapolate, each its own way.
    torch.set_num_threads(1)
    train = TrainConfig(epochs=200, learning_rate=1e-2)
    config = EnsembleConfig(members=4, seed=0, net=TINY_NET, train=train)
    hull = Surrogate.fit(data.dataset, config, rows=data.inner_rows)
    space = data.space
    inside = space.from_unit_cube(0.3 + 0.4 * space.to_unit_cube(space.sample_sobol(16, seed=11)))
    corners = space.from_unit_cube(np.random.default_rng(0).integers(0, 2, (16, space.dim)).astype(float))
    column = OBSERVABLES.index(RETENTION)

    def epistemic(designs: list[Design]) -> float:
        prediction = hull.predict(designs, source=SPM, protocol=data.protocol, n_samples=64)
        return float(prediction.epistemic_std[:, -1, column].mean())

    std_in, std_out = epistemic(inside), epistemic(corners)
    print(f"epistemic std of retention at cycle {CYCLES}: inside {std_in:.3g}, corners {std_out:.3g}, "
          f"ratio {std_out / std_in:.2f}")
    assert std_out > 1.3 * std_in  # seeds 0-9 give ratios of 1.56-2.67


def test_sample_designs_and_feasibility(data: Fixture, surrogate: Surrogate) -> None:
    designs = surrogate.sample_designs(5, seed=2)
    assert len(designs) == 5
    for design in designs:
        assert data.space.validate_design(design.values).values == design.values
    assert surrogate.sample_designs(5, seed=2) == designs
    probability, spread = surrogate.feasibility(designs, source=LAB, protocol=data.protocol)
    assert probability.shape == spread.shape == (5,)
    assert bool(((probability >= 0) & (probability <= 1)).all()) and bool((spread >= 0).all())


def mean_loss(surrogate: Surrogate, dataset: TrajectoryDataset) -> float:
    no_prefix = torch.zeros(len(dataset), dtype=torch.long)
    with torch.no_grad():
        losses = [net.loss(dataset.batch, n_samples=16, prefix_cycles=no_prefix,  # type: ignore[operator]
                           generator=torch.Generator().manual_seed(0))[0]
                  for net in surrogate.ensemble.members]
    return float(torch.stack(losses).mean())


def test_refit_warm_starts_and_keeps_the_layout(data: Fixture, surrogate: Surrogate) -> None:
    clone = Surrogate.from_payload(surrogate.payload())  # leaves the shared fixture alone
    members = list(clone.ensemble.members)
    weights = [{k: v.clone() for k, v in net.state_dict().items()} for net in members]
    layout = (clone.observables, clone.source_names, clone.features.n_features, clone.normalisation["y_loc"])
    loss_before = mean_loss(clone, data.dataset)
    clone.refit(data.dataset)
    assert all(a is b for a, b in zip(clone.ensemble.members, members, strict=True))  # continued, not rebuilt
    changed = [any(not torch.equal(v, net.state_dict()[k]) for k, v in w.items())
               for w, net in zip(weights, members, strict=True)]
    assert all(changed)
    assert (clone.observables, clone.source_names, clone.features.n_features) == layout[:3]
    assert torch.equal(clone.normalisation["y_loc"], layout[3])
    assert clone.snapshot_hash == data.dataset.snapshot_hash() and clone.horizon == CYCLES
    assert mean_loss(clone, data.dataset) <= loss_before + 0.05 * abs(loss_before)
    narrower = TrajectoryDataset.from_store(data.store, data.space, observables=[CAPACITY, RETENTION])
    with pytest.raises(InvalidInputError):
        clone.refit(narrower)


# ---------------------------------------------------------------------------- the BoTorch bridge


def unit_cube(data: Fixture, b: int, q: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(b, q, data.space.dim, generator=generator, dtype=torch.float64)


def test_endpoint_sampler_shape_determinism_and_gradients(data: Fixture, surrogate: Surrogate) -> None:
    targets = [(RETENTION, CYCLES), (CAPACITY, 3)]
    sampler = endpoint_sampler(surrogate, source=LAB, protocol=data.protocol, targets=targets, n_samples=4)
    X = unit_cube(data, 3, 2).requires_grad_(True)
    samples = sampler(X)
    assert samples.shape == (3, 2 * 4, 2, 2) and samples.dtype == torch.float64
    assert torch.equal(samples, sampler(X.detach().clone()))
    for net in surrogate.ensemble.members:
        net.zero_grad(set_to_none=True)
    samples[..., 0].sum().backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all()) and bool((X.grad.abs() > 0).any())
    assert all(p.grad is None for net in surrogate.ensemble.members for p in net.parameters())


def test_endpoint_sampler_agrees_with_predict(data: Fixture, surrogate: Surrogate) -> None:
    X = unit_cube(data, 6, 1, seed=4)
    designs = data.space.from_unit_cube(X[:, 0].numpy())
    prediction = surrogate.predict(designs, source=LAB, protocol=data.protocol, n_samples=32, seed=0)
    targets = [(RETENTION, CYCLES), (CAPACITY, 3)]
    expected = torch.stack([prediction.mean[:, CYCLES - 1, OBSERVABLES.index(RETENTION)],
                            prediction.mean[:, 2, OBSERVABLES.index(CAPACITY)]], dim=-1)
    # The same seeds draw the same paths: equal up to float rounding.
    same = endpoint_sampler(surrogate, source=LAB, protocol=data.protocol, targets=targets, n_samples=32)
    assert torch.allclose(same(X).mean(dim=1)[:, 0].float(), expected, rtol=1e-5, atol=1e-6)
    # Other seeds: within Monte Carlo error of the path average (the members are the same).
    other = endpoint_sampler(surrogate, source=LAB, protocol=data.protocol, targets=targets, n_samples=32,
                             seed=100)
    samples = other(X)[:, :, 0].float()  # b x (K * S) x m
    members = samples.reshape(6, len(surrogate.ensemble.members), 32, 2)
    error = (2 * members.var(dim=2).mean(dim=1) / samples.shape[1]).sqrt()
    assert bool(((samples.mean(dim=1) - expected).abs() <= 5 * error + 1e-6).all())


def test_failure_probability_matches_feasibility(data: Fixture, surrogate: Surrogate) -> None:
    X = unit_cube(data, 4, 2, seed=5).requires_grad_(True)
    probability = failure_probability(surrogate, LAB, data.protocol)(X)
    assert probability.shape == (4, 2)
    designs = data.space.from_unit_cube(X.detach().reshape(-1, data.space.dim).numpy())
    expected, _ = surrogate.feasibility(designs, source=LAB, protocol=data.protocol)
    assert torch.allclose(probability.detach().reshape(-1).float(), expected, atol=1e-5)
    torch.log1p(-probability).sum().backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all())


def test_botorch_optimises_on_the_surrogate(data: Fixture, surrogate: Surrogate) -> None:
    dim = data.space.dim
    model = botorch_model(surrogate, source=LAB, protocol=data.protocol, targets=[(RETENTION, CYCLES)],
                          n_samples=4)
    observed = data.dataset.batch.y[:, CYCLES - 1, OBSERVABLES.index(RETENTION)]
    best = float(observed[data.dataset.batch.y_mask[:, CYCLES - 1, OBSERVABLES.index(RETENTION)] > 0].max())
    bounds = torch.stack([torch.zeros(dim), torch.ones(dim)]).double()
    acquisition = qLogExpectedImprovement(model, best_f=best)
    candidates, value = optimize_acqf(acquisition, bounds=bounds, q=2, num_restarts=2, raw_samples=16)
    assert candidates.shape == (2, dim) and candidates.dtype == torch.float64
    assert value is not None and bool(torch.isfinite(value).all())
    assert bool(((candidates >= 0) & (candidates <= 1)).all())
    assert len(data.space.from_unit_cube(candidates.numpy())) == 2


def test_failure_logit_output_works_as_a_botorch_constraint(data: Fixture, surrogate: Surrogate) -> None:
    targets = [(RETENTION, CYCLES), (FAILURE_LOGIT, 0)]
    model = botorch_model(surrogate, source=LAB, protocol=data.protocol, targets=targets, n_samples=4)
    X = unit_cube(data, 5, 2, seed=6).requires_grad_(True)
    logits = model.posterior(X).values[..., 1]  # b x s x q, one value per member
    p_fail = failure_probability(surrogate, LAB, data.protocol)(X)
    assert torch.allclose(torch.sigmoid(logits).mean(dim=1), p_fail, atol=1e-5)
    retention = GenericMCObjective(lambda Z, X: Z[..., 0])
    acquisition = qLogExpectedImprovement(model, best_f=0.99, objective=retention,
                                          constraints=[failure_constraint(1, 0.2)])
    value = acquisition(X) + torch.log1p(-p_fail).sum(dim=-1)  # also discounted by p(all q run)
    assert value.shape == (5,) and bool(torch.isfinite(value).all())
    value.sum().backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all())
