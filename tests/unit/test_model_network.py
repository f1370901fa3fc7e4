"""InterphaseNet on a toy world: shapes, physics bounds, masking, training, prefix conditioning.

The toy world: a design of two continuous features and a two-way category, constant controls
(C-rate, temperature), and three per-cycle observables over 24 cycles:

- retention ``exp(-k t)`` with ``k = (0.004 + 0.03 x0 (1 + 0.5 u0)) exp(0.2 eta)``, where
  ``eta ~ N(0, 1)`` is a hidden cell-to-cell factor that only the observed cycles reveal;
- capacity ``q0(category) * retention``, 3 % lower in the "lab" source than in the "sim" one;
- SEI thickness ``5 nm + 20 nm (0.3 + x1) sqrt(t / 24)``, observed by the "sim" source only;

plus conductivity at three temperatures, failures that grow likely with x0 and the C-rate
(a failed run stops early), designs without results and missing design features.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
import torch
from torch import Tensor

from interphase.models.batch import TrajectoryBatch
from interphase.models.config import NetConfig
from interphase.models.generative import InterphaseNet
from interphase.models.physics import PhysicsConstraints, kind_of
from interphase.schema.errors import InvalidInputError

pytestmark = pytest.mark.timeout(120)

OBSERVABLES = ["Capacity retention", "Discharge capacity [A.h]", "SEI thickness [m]"]
RETENTION, CAPACITY, SEI = range(3)
COND_OBSERVABLES = ["Conductivity [S.m-1]"]
TEMPERATURES_K = torch.tensor([273.15, 298.15, 323.15])
CYCLES = 24
N_FEATURES, CATEGORICAL, N_CONTROLS = 4, [(2, 4)], 2
SIM, LAB, NONE = 0, 1, 2
N_SOURCES = 3
HIDDEN_FACTOR = 0.2
NOISE = torch.tensor([0.003, 0.01, 0.2e-9])


@dataclass
class Toy:
    batch: TrajectoryBatch
    truth: Tensor  # B x T x O noiseless trajectories (every cycle, every source)


def toy_world(n: int, seed: int, *, unlabelled: float = 0.2, missing: float = 0.1) -> Toy:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, N_FEATURES, generator=g)
    category = (torch.rand(n, generator=g) < 0.5).long()
    x[:, 2:4] = torch.nn.functional.one_hot(category, 2).float()
    u = torch.rand(n, 1, N_CONTROLS, generator=g).expand(-1, CYCLES, -1).contiguous()
    hidden = torch.randn(n, generator=g)
    source = (torch.rand(n, generator=g) < 0.5).long()

    t = torch.arange(1, CYCLES + 1, dtype=torch.float32)
    rate = (0.004 + 0.03 * x[:, 0] * (1 + 0.5 * u[:, 0, 0])) * torch.exp(HIDDEN_FACTOR * hidden)
    retention = torch.exp(-rate[:, None] * t)
    lab_offset = torch.where(source == LAB, 0.97, 1.0)
    capacity = (4.8 + 0.4 * category.float())[:, None] * retention * lab_offset[:, None]
    sei = 5e-9 + 20e-9 * (0.3 + x[:, 1:2]) * torch.sqrt(t / CYCLES)
    truth = torch.stack([retention, capacity, sei], dim=-1)
    y = truth + NOISE * torch.randn(truth.shape, generator=g)

    failed = (torch.rand(n, generator=g) < torch.sigmoid(12 * (x[:, 0] + 0.3 * u[:, 0, 0] - 0.85))).float()
    stop = torch.randint(CYCLES // 4, CYCLES, (n,), generator=g)
    has_result = (torch.rand(n, generator=g) >= unlabelled).float()
    cycles = torch.where(failed > 0, stop, torch.full_like(stop, CYCLES)) * has_result.long()
    source = torch.where(has_result > 0, source, torch.full_like(source, NONE))
    y_mask = (torch.arange(CYCLES)[None, :, None] < cycles[:, None, None]).float().expand(-1, -1, 3).clone()
    y_mask[source == LAB, :, SEI] = 0.0

    conductivity = (0.4 + x[:, 1:2]) * torch.exp((TEMPERATURES_K - 298.15) / 40.0)
    cond_y = (conductivity * (1 + 0.02 * torch.randn(conductivity.shape, generator=g))).unsqueeze(-1)
    cond_mask = has_result.view(-1, 1, 1).expand_as(cond_y).clone()
    x_mask = torch.ones_like(x)
    x_mask[:, :2] = (torch.rand(n, 2, generator=g) >= missing).float()
    batch = TrajectoryBatch(x=x * x_mask, x_mask=x_mask, source=source, u=u, y=y * y_mask, y_mask=y_mask,
                            cycles=cycles, has_result=has_result, failed=failed * has_result,
                            cond_y=cond_y * cond_mask, cond_mask=cond_mask)
    return Toy(batch, truth)


def masked_moments(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-column mean and std over the observed entries (last axis = columns)."""
    dims = tuple(range(values.dim() - 1))
    count = mask.sum(dims)
    loc = (values * mask).sum(dims) / count
    return loc, (((values - loc) ** 2 * mask).sum(dims) / count).sqrt()


def build_net(batch: TrajectoryBatch, **config: object) -> InterphaseNet:
    y_loc, y_scale = masked_moments(batch.y, batch.y_mask)
    cond_loc, cond_scale = masked_moments(batch.cond_y, batch.cond_mask)
    settings = {"typical_cycles": CYCLES, **config}
    return InterphaseNet(NetConfig(**settings), N_FEATURES, CATEGORICAL, N_SOURCES, N_CONTROLS, OBSERVABLES,
                         COND_OBSERVABLES, y_loc, y_scale, cond_loc, cond_scale, conditions=TEMPERATURES_K)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def toy() -> Toy:
    return toy_world(24, seed=3)


@pytest.fixture
def net(toy: Toy) -> InterphaseNet:
    return build_net(toy.batch, hidden=16, depth=1)


# ----------------------------------------------------------------- config and physics


def test_config_is_frozen_and_forbids_unknown_fields() -> None:
    config = NetConfig()
    assert (config.latent_dim, config.transition, config.max_prefix_fraction) == (8, "gru", 0.5)
    with pytest.raises(ValueError):
        NetConfig(latent_size=3)
    with pytest.raises(ValueError):
        NetConfig(max_prefix_fraction=1.5)
    with pytest.raises(ValueError):
        NetConfig(physics={"Capacity retention": "positive"})
    with pytest.raises(ValueError):
        config.latent_dim = 3  # type: ignore[misc]


def test_kinds_follow_the_observable_name() -> None:
    assert kind_of("Discharge capacity [A.h]") == "nonnegative"
    assert kind_of("Capacity retention") == "at_most_one"
    assert kind_of("SEI thickness [m]") == "nondecreasing"
    assert kind_of("Loss of lithium inventory [%]") == "free"
    assert kind_of("Conductivity [S.m-1]") == "nonnegative"
    assert kind_of("Something new [V]") == "free"
    assert kind_of("Capacity retention", {"Capacity retention": "free"}) == "free"


def test_constraints_bound_any_preactivation_in_raw_units() -> None:
    kinds = ["free", "nonnegative", "at_most_one", "nondecreasing"]
    loc, scale = torch.tensor([-3.0, 2e-9, 0.95, 1e-8]), torch.tensor([1.0, 1e-9, 0.05, 5e-9])
    constraints = PhysicsConstraints(kinds, loc, scale, typical_cycles=10)
    assert constraints.n_channels == 5
    h = 20.0 * torch.randn(7, 3, 40, 5, generator=generator())
    values = constraints(h)
    assert values.shape == (7, 3, 40, 4)
    assert (values[..., 1] >= 0).all() and (values[..., 2] <= 1).all() and (values[..., 3] >= 0).all()
    assert (values[..., 3].diff(dim=-1) >= 0).all()
    # at h = 0 the bounded kinds sit at their typical value
    at_zero = constraints(torch.zeros(1, 5))
    torch.testing.assert_close(at_zero[0, :3], loc[:3], rtol=1e-4, atol=0.0)


def test_constraints_reject_bad_scales() -> None:
    with pytest.raises(InvalidInputError):
        PhysicsConstraints(["free"], torch.tensor([0.0]), torch.tensor([0.0]))
    with pytest.raises(InvalidInputError):
        PhysicsConstraints(["free", "free"], torch.zeros(2), torch.ones(3))


def test_physics_bounds_hold_for_random_networks(toy: Toy) -> None:
    for seed in range(3):
        torch.manual_seed(seed)
        net = build_net(toy.batch, hidden=16, depth=1, transition="mlp" if seed % 2 else "gru")
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.normal_(0.0, 1.0)
            mean, var = net.sample_trajectories(toy.batch, horizon=40, n_samples=4, generator=generator(seed))
            cond_mean, cond_var = net.sample_conditions(toy.batch, TEMPERATURES_K, 4)
        assert torch.isfinite(mean).all() and (var > 0).all() and (cond_var > 0).all()
        assert (mean[..., RETENTION] <= 1.0).all()
        assert (mean[..., CAPACITY] >= 0.0).all()
        assert (mean[..., SEI] >= 0.0).all()
        assert (mean[..., SEI].diff(dim=-1) >= 0.0).all()
        assert (cond_mean >= 0.0).all()


# ----------------------------------------------------------------- shapes and API


@pytest.mark.parametrize("transition", ["gru", "mlp"])
def test_shapes(toy: Toy, transition: str) -> None:
    net = build_net(toy.batch, hidden=16, depth=1, transition=transition)
    batch, n = toy.batch, len(toy.batch)
    loss, parts = net.loss(batch, n_samples=2, generator=generator())
    assert loss.shape == () and torch.isfinite(loss)
    assert set(parts) == {"loss", "design", "kl_design", "observation", "condition", "kl_prefix",
                          "feasibility"}
    mean, var = net.sample_trajectories(batch, horizon=CYCLES + 6, n_samples=5, generator=generator())
    assert mean.shape == var.shape == (5, n, CYCLES + 6, 3)
    short, _ = net.sample_trajectories(batch, horizon=4, n_samples=5, prefix_cycles=torch.full((n,), 8),
                                       generator=generator())
    assert short.shape == (5, n, 4, 3)
    cond_mean, cond_var = net.sample_conditions(batch, torch.tensor([280.0, 300.0]), n_samples=3)
    assert cond_mean.shape == cond_var.shape == (3, n, 2, 1)
    p_fail = net.feasibility(batch)
    assert p_fail.shape == (n,) and ((p_fail > 0) & (p_fail < 1)).all()
    z_mean, z_logvar = net.encode(batch.x, batch.x_mask)
    assert z_mean.shape == z_logvar.shape == (n, 8)
    assert net.decode(z_mean).shape == (n, N_FEATURES)
    designs = net.sample_designs(6, generator())
    assert designs.shape == (6, N_FEATURES)
    assert ((designs >= 0) & (designs <= 1)).all()
    assert (designs[:, 2:4].sum(dim=-1) == 1).all() and set(designs[:, 2:4].unique().tolist()) <= {0.0, 1.0}
    probabilities = net.decode(z_mean, probabilities=True)[:, 2:4]
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(n))
    design = torch.cat([batch.x * batch.x_mask, batch.x_mask], dim=-1)
    states = net.dynamics.rollout(z_mean.expand(2, -1, -1), batch.u, net.sources(batch.source), design=design)
    assert states.shape == (2, n, CYCLES, 8)


def test_inpaint_keeps_known_entries_and_fills_missing(net: InterphaseNet, toy: Toy) -> None:
    x, x_mask = toy.batch.x.clone(), toy.batch.x_mask.clone()
    x_mask[0, 2:4] = 0.0  # a whole categorical block unknown
    filled = net.inpaint(x, x_mask)
    known = x_mask > 0
    assert torch.equal(filled[known], x[known])
    assert ((filled >= 0) & (filled <= 1)).all()
    assert filled[0, 2:4].sum() == 1.0


def test_source_maps_start_at_identity_gain_and_a_prior_offset(toy: Toy) -> None:
    pre, std = torch.randn(2, 3, 5, 4), torch.rand(2, 3, 5, 3)
    sources = torch.tensor([SIM, LAB, NONE])
    plain = build_net(toy.batch, hidden=8, depth=1, source_prior_std=0.0)
    adjusted, adjusted_std = plain.sources.adjust(pre, std, sources)
    assert torch.equal(adjusted, pre) and torch.equal(adjusted_std, std)
    offsets = []
    for seed in (1, 2):  # two ensemble members
        torch.manual_seed(seed)
        member = build_net(toy.batch, hidden=8, depth=1)
        adjusted, adjusted_std = member.sources.adjust(pre, std, sources)
        assert torch.equal(adjusted_std, std)  # gains and noise start at the identity
        shift = adjusted - pre
        torch.testing.assert_close(shift, shift[:1, :, :1].expand_as(shift))  # a constant offset per source
        offsets.append(shift[0, :, 0])
    spread = (offsets[0] - offsets[1]).abs()
    assert (spread > 0).all() and (spread < 5 * member.config.source_prior_std).all()


def test_invalid_constructor_arguments_raise(toy: Toy) -> None:
    loc, scale = torch.ones(3), torch.ones(3)
    args = (NetConfig(), N_FEATURES)
    with pytest.raises(InvalidInputError):
        InterphaseNet(*args, [(3, 5)], N_SOURCES, N_CONTROLS, OBSERVABLES, [], loc, scale)
    with pytest.raises(InvalidInputError):
        InterphaseNet(*args, CATEGORICAL, N_SOURCES, N_CONTROLS, OBSERVABLES, [], torch.ones(2), scale)
    with pytest.raises(InvalidInputError):  # a condition-indexed observable needs the condition grid
        InterphaseNet(*args, CATEGORICAL, N_SOURCES, N_CONTROLS, OBSERVABLES, COND_OBSERVABLES, loc, scale,
                      torch.ones(1), torch.ones(1))


def test_predictions_are_differentiable_in_the_design(net: InterphaseNet, toy: Toy) -> None:
    x = toy.batch.x.clone().requires_grad_(True)
    mean, _ = net.sample_trajectories(replace(toy.batch, x=x), horizon=CYCLES, n_samples=2,
                                      generator=generator())
    mean[..., -1, RETENTION].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# ----------------------------------------------------------------- masks


def test_masked_entries_do_not_change_the_loss(net: InterphaseNet, toy: Toy) -> None:
    batch = toy.batch
    junk = replace(
        batch,
        x=torch.where(batch.x_mask > 0, batch.x, torch.full_like(batch.x, float("nan"))),
        y=torch.where(batch.y_mask > 0, batch.y, 1e3 * torch.randn(batch.y.shape, generator=generator(1))),
        cond_y=torch.where(batch.cond_mask > 0, batch.cond_y, torch.full_like(batch.cond_y, -7.0)),
    )
    assert not torch.equal(torch.nan_to_num(junk.y), batch.y)
    for prefix in (None, torch.full((len(batch),), 6)):
        reference, _ = net.loss(batch, n_samples=2, prefix_cycles=prefix, generator=generator())
        changed, _ = net.loss(junk, n_samples=2, prefix_cycles=prefix, generator=generator())
        assert torch.equal(reference, changed)
    mean, _ = net.sample_trajectories(batch, horizon=CYCLES, n_samples=2, prefix_cycles=torch.full((24,), 6),
                                      generator=generator())
    junk_mean, _ = net.sample_trajectories(junk, horizon=CYCLES, n_samples=2,
                                           prefix_cycles=torch.full((24,), 6), generator=generator())
    assert torch.equal(mean, junk_mean)


def test_unlabelled_records_train_only_the_design_terms(net: InterphaseNet, toy: Toy) -> None:
    batch = toy.batch
    unlabelled = (batch.has_result == 0).view(-1, 1, 1)
    assert unlabelled.any()
    noisy = torch.randn(batch.y.shape, generator=generator(2))
    changed = replace(
        batch,
        y=torch.where(unlabelled, noisy, batch.y), y_mask=torch.where(unlabelled, 1.0, batch.y_mask),
        cond_y=torch.where(unlabelled, 5.0, batch.cond_y),
        cond_mask=torch.where(unlabelled, 1.0, batch.cond_mask),
        failed=torch.where(unlabelled.view(-1), 1.0, batch.failed),
    )
    _, reference = net.loss(batch, generator=generator())
    _, parts = net.loss(changed, generator=generator())
    for term in ("observation", "condition", "kl_prefix", "feasibility", "design", "loss"):
        assert parts[term] == reference[term], term
    # ...while their designs do train the VAE
    moved = replace(batch, x=torch.where(unlabelled.view(-1, 1), 1.0 - batch.x, batch.x))
    _, design_moved = net.loss(moved, generator=generator())
    assert design_moved["design"] != reference["design"]


# ----------------------------------------------------------------- determinism


def test_fixed_generators_make_everything_deterministic(toy: Toy) -> None:
    torch.manual_seed(5)
    first = build_net(toy.batch, hidden=16, depth=1)
    torch.manual_seed(5)
    second = build_net(toy.batch, hidden=16, depth=1)
    torch.manual_seed(99)  # the global generator must not matter
    loss_a, _ = first.loss(toy.batch, n_samples=2, generator=generator(7))
    torch.manual_seed(123)
    loss_b, _ = second.loss(toy.batch, n_samples=2, generator=generator(7))
    assert torch.equal(loss_a, loss_b)
    draws = [first.sample_trajectories(toy.batch, horizon=10, n_samples=3, prefix_cycles=torch.full((24,), 4),
                                       generator=generator(seed)) for seed in (7, 7, 8)]
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])
    assert not torch.equal(draws[0][0], draws[2][0])
    assert torch.equal(first.sample_designs(4, generator(1)), second.sample_designs(4, generator(1)))


# ----------------------------------------------------------------- learning the toy world


@dataclass
class Trained:
    net: InterphaseNet
    train: Toy
    held_out: Toy
    losses: list[float]


@pytest.fixture(scope="module")
def trained() -> Iterator[Trained]:
    # Held-out designs are complete, so that the design alone sets the best achievable fit.
    train, held_out = toy_world(128, seed=1), toy_world(64, seed=2, unlabelled=0.0, missing=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: a second thread on shared CPUs only adds contention
    try:
        torch.manual_seed(0)
        net = build_net(train.batch, hidden=32, depth=1)
        steps = 600
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-2, total_steps=steps,
                                                       pct_start=0.2)
        draws, losses = generator(0), []
        for _ in range(steps):
            loss, _ = net.loss(train.batch, generator=draws)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        net.eval()
        yield Trained(net, train, held_out, losses)
    finally:
        torch.set_num_threads(threads)


def spread_rmse(truth: Tensor) -> Tensor:
    """``O`` RMSE of predicting every record by the mean trajectory: what a design-blind model gets."""
    return (truth - truth.mean(dim=0)).pow(2).mean(dim=(0, 1)).sqrt()


def test_training_lowers_the_loss(trained: Trained) -> None:
    # Fit time is a benchmark figure (benchmarks/model_quality.py), not a unit-test bound.
    first, last = trained.losses[0], sum(trained.losses[-20:]) / 20
    assert last < first - 0.75 * abs(first), (first, last)


def test_trained_model_fits_the_toy_trajectories(trained: Trained) -> None:
    # Scores are RMSE over held-out records and cycles relative to a design-blind forecast
    # (the mean trajectory), which scores 1. For retention and capacity the hidden cell
    # factor leaves an oracle that knows the true law and the design at 0.36; SEI is
    # deterministic given the design (oracle 0). Below 0.6 (0.5 for SEI where the source
    # measures it) the model explains at least 64 % (75 %) of the variance across designs
    # after 200 steps; six other seeds and worlds landed at 0.38-0.57 (SEI 0.13-0.39).
    held_out = trained.held_out
    with torch.no_grad():
        mean, var = trained.net.sample_trajectories(held_out.batch, horizon=CYCLES, n_samples=32,
                                                    generator=generator(1))
    error = mean.mean(dim=0) - held_out.truth
    ratio = error.pow(2).mean(dim=(0, 1)).sqrt() / spread_rmse(held_out.truth)
    assert ratio[RETENTION] < 0.6 and ratio[CAPACITY] < 0.6, ratio
    sim = held_out.batch.source == SIM
    sei_ratio = error[sim][..., SEI].pow(2).mean().sqrt() / spread_rmse(held_out.truth)[SEI]
    assert sei_ratio < 0.5, sei_ratio
    assert (var > 0).all()


def test_feasibility_separates_failed_from_successful_runs(trained: Trained) -> None:
    batch = trained.held_out.batch
    with torch.no_grad():
        p_fail = trained.net.feasibility(batch)
    failed, succeeded = p_fail[batch.failed > 0], p_fail[batch.failed == 0]
    assert len(failed) >= 10 and len(succeeded) >= 10
    auc = (failed[:, None] > succeeded[None, :]).float().mean()
    assert auc > 0.8, auc


def test_a_prefix_moves_the_forecast_toward_the_truth(trained: Trained) -> None:
    # Held-out runs that reached the end; the forecast of the last cycle's retention from
    # the design alone misses the hidden cell factor, which the first 12 cycles reveal.
    held_out = trained.held_out
    complete = (held_out.batch.cycles == CYCLES).nonzero().squeeze(-1)
    batch, truth = held_out.batch.index(complete), held_out.truth[complete]
    errors = []
    with torch.no_grad():
        for prefix in (None, torch.full((len(batch),), CYCLES // 2)):
            mean, _ = trained.net.sample_trajectories(batch, horizon=CYCLES, n_samples=32,
                                                      prefix_cycles=prefix, generator=generator(3))
            errors.append((mean.mean(dim=0)[:, -1, RETENTION] - truth[:, -1, RETENTION]).abs())
    without, with_prefix = errors
    assert len(batch) >= 20
    # here the error falls by 60 %; six other seeds and worlds: 8-65 %, better for 71-86 % of runs
    assert with_prefix.mean() < without.mean(), (with_prefix.mean(), without.mean())
    assert (with_prefix < without).float().mean() > 0.5
