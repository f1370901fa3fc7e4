"""The surrogate-to-BoTorch bridge without a store: the unit cube in torch, batches, samplers, checks."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from interphase.models.acquisition_bridge import (
    FAILURE_LOGIT,
    UnitCubeBatches,
    endpoint_sampler,
    failure_constraint,
    failure_probability,
    unit_to_si,
)
from interphase.models.batch import TrajectoryBatch
from interphase.models.config import NetConfig
from interphase.models.ensemble import EnsembleConfig
from interphase.models.surrogate import Surrogate
from interphase.models.training import TrainConfig
from interphase.schema import (
    CategoricalVariable,
    ContinuousVariable,
    DesignSpace,
    IntegerVariable,
    InvalidInputError,
)

pytestmark = pytest.mark.timeout(60)

TEMPERATURE = ContinuousVariable(name="Ambient temperature [K]", lower=10, upper=45, unit="degC")
CHARGE = ContinuousVariable(name="Charge C-rate", lower=0.3, upper=2.0)
DIFFUSIVITY = ContinuousVariable(name="SEI solvent diffusivity [m2.s-1]", lower=3e-21, upper=3e-19,
                                 unit="m**2/s", log_scale=True)
FORMATION = IntegerVariable(name="Formation cycles", lower=1, upper=4)
SPACE = DesignSpace(variables=(TEMPERATURE, CHARGE, DIFFUSIVITY, FORMATION))
OBSERVABLES = ["Capacity retention", "Discharge capacity [A.h]"]
SOURCES = ["pybamm-spm", "lab-cell", "<none>"]
CYCLES, MEMBERS = 4, 2


def make_surrogate(space: DesignSpace = SPACE) -> Surrogate:
    net = NetConfig(hidden=16, latent_dim=4, depth=1, typical_cycles=CYCLES)
    config = EnsembleConfig(members=MEMBERS, net=net, train=TrainConfig(epochs=3))
    normalisation = {"y_loc": torch.tensor([0.99, 4.5]), "y_scale": torch.tensor([0.01, 0.3]),
                     "cond_loc": torch.zeros(0), "cond_scale": torch.ones(0)}
    return Surrogate(space, OBSERVABLES, [], [], SOURCES, {"pybamm-spm": 10, "lab-cell": 100}, normalisation,
                     CYCLES, config, "0" * 64)


@pytest.fixture(scope="module")
def surrogate() -> Surrogate:
    """A few epochs on synthetic records: untrained-looking, but a real ensemble of real networks."""
    torch.set_num_threads(1)
    surrogate = make_surrogate()
    designs = SPACE.sample_sobol(8, seed=0)
    x, x_mask = surrogate.features.encode(designs)
    generator = torch.Generator().manual_seed(0)
    fade = 0.003 * (1 + x[:, :1]) * torch.arange(1, CYCLES + 1)
    y = torch.stack([1 - fade, 4.5 * (1 - fade)], dim=-1)
    y = y + 0.001 * torch.randn(8, CYCLES, 2, generator=generator)
    u = surrogate.features.controls.build(designs, [None] * 8, CYCLES)
    batch = TrajectoryBatch(
        x=x, x_mask=x_mask, source=torch.arange(8) % 2, u=u,
        y=y, y_mask=torch.ones_like(y), cycles=torch.full((8,), CYCLES), has_result=torch.ones(8),
        failed=(torch.arange(8) == 3).float(), cond_y=torch.zeros(8, 0, 0), cond_mask=torch.zeros(8, 0, 0))
    surrogate.ensemble.fit(batch, lambda k: torch.arange(8))
    return surrogate


def cube(b: int, q: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, q, SPACE.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def snap_integers(X: torch.Tensor) -> torch.Tensor:
    """``X`` with the integer column at its bin centre, where the relaxation meets ``batch_for``."""
    column = SPACE.names.index(FORMATION.name)
    snapped = X.clone()
    snapped[..., column] = X[..., column].clone().apply_(lambda v: FORMATION.to_unit(FORMATION.from_unit(v)))
    return snapped


# ------------------------------------------------------------------ the unit cube in torch


@pytest.mark.parametrize("variable", [TEMPERATURE, CHARGE, DIFFUSIVITY], ids=["degC", "linear", "log"])
def test_unit_to_si_matches_from_unit_cube(variable: ContinuousVariable) -> None:
    u = torch.cat([torch.tensor([0.0, 1.0, 0.5]), torch.rand(50, generator=torch.Generator().manual_seed(1))])
    u = u.double()
    expected = torch.tensor([variable.from_unit(float(v)) for v in u], dtype=torch.float64)
    assert torch.allclose(unit_to_si(variable, u), expected, rtol=1e-6, atol=0.0)
    assert torch.equal(unit_to_si(variable, torch.tensor([-0.5, 1.5], dtype=torch.float64)),
                       unit_to_si(variable, torch.tensor([0.0, 1.0], dtype=torch.float64)))


def test_unit_to_si_relaxes_integers_to_their_bins() -> None:
    u = torch.linspace(0.0, 1.0, 41, dtype=torch.float64)
    relaxed = unit_to_si(FORMATION, u)
    snapped = torch.floor(relaxed + 0.5).clamp(max=FORMATION.upper)
    assert snapped.tolist() == [float(FORMATION.from_unit(float(v))) for v in u]
    centres = torch.tensor([FORMATION.to_unit(level) for level in range(1, 5)], dtype=torch.float64)
    assert unit_to_si(FORMATION, centres).tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0])


def test_unit_to_si_is_differentiable_and_refuses_categories() -> None:
    u = torch.full((3,), 0.4, dtype=torch.float64, requires_grad=True)
    unit_to_si(DIFFUSIVITY, u).sum().backward()
    value = DIFFUSIVITY.from_unit(0.4)
    slope = value * math.log(10.0) * math.log10(DIFFUSIVITY.upper / DIFFUSIVITY.lower)
    assert u.grad is not None
    assert torch.allclose(u.grad, torch.full((3,), slope, dtype=torch.float64), rtol=1e-6)
    with pytest.raises(InvalidInputError):
        unit_to_si(CategoricalVariable(name="Additive", choices=("none", "VC")), u)  # type: ignore[arg-type]


def test_unit_cube_batches_match_batch_for() -> None:
    surrogate = make_surrogate()
    X = snap_integers(cube(6, 1, seed=2)[:, 0])
    designs = SPACE.from_unit_cube(X.numpy())
    expected = surrogate.batch_for(designs, "lab-cell", None, horizon=CYCLES)
    batch = UnitCubeBatches(surrogate, "lab-cell", None).batch(X, CYCLES)
    assert torch.allclose(batch.x, expected.x, atol=1e-6) and torch.equal(batch.x_mask, expected.x_mask)
    # Temperature (degC in the space, K in SI), the charge rate, then defaults for the rest.
    assert torch.allclose(batch.u, expected.u, atol=1e-6)
    for name in ("source", "y", "y_mask", "cycles", "has_result", "failed", "cond_y", "cond_mask"):
        assert torch.equal(getattr(batch, name), getattr(expected, name)), name


def test_refuses_categorical_spaces_unknown_sources_and_unfitted_surrogates() -> None:
    space = DesignSpace(variables=(CHARGE, CategoricalVariable(name="Additive", choices=("none", "VC"))))
    with pytest.raises(InvalidInputError, match="categorical"):
        UnitCubeBatches(make_surrogate(space), "lab-cell", None)
    with pytest.raises(InvalidInputError):
        endpoint_sampler(make_surrogate(space), source="lab-cell", protocol=None,
                         targets=[(OBSERVABLES[0], 2)])
    with pytest.raises(InvalidInputError):
        UnitCubeBatches(make_surrogate(), "pybamm-dfn", None)
    unfitted = make_surrogate()
    with pytest.raises(InvalidInputError, match="no fitted members"):
        endpoint_sampler(unfitted, source="lab-cell", protocol=None, targets=[(OBSERVABLES[0], 2)])
    with pytest.raises(InvalidInputError, match="no fitted members"):
        failure_probability(unfitted, "lab-cell", None)


# ------------------------------------------------------------------ samplers


def test_sampler_shape_determinism_and_gradients_to_x_only(surrogate: Surrogate) -> None:
    targets = [(OBSERVABLES[0], CYCLES), (OBSERVABLES[1], 2), (FAILURE_LOGIT, 0)]
    sampler = endpoint_sampler(surrogate, source="pybamm-spm", protocol=None, targets=targets, n_samples=3)
    X = cube(4, 2).requires_grad_(True)
    samples = sampler(X)
    assert samples.shape == (4, MEMBERS * 3, 2, 3) and samples.dtype == torch.float64
    assert torch.equal(samples, sampler(X.detach().clone()))
    assert not torch.equal(samples, endpoint_sampler(surrogate, source="pybamm-spm", protocol=None,
                                                      targets=targets, n_samples=3, seed=1)(X))
    logits = samples[..., 2].reshape(4, MEMBERS, 3, 2)
    assert torch.equal(logits, logits[:, :, :1].expand_as(logits))  # one failure logit per member
    samples[..., :2].sum().backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all()) and bool((X.grad != 0).any())
    assert all(p.requires_grad for net in surrogate.ensemble.members for p in net.parameters())  # restored


def test_sampler_leaves_member_gradients_alone(surrogate: Surrogate) -> None:
    for net in surrogate.ensemble.members:
        net.zero_grad(set_to_none=True)
    X = cube(2, 1).requires_grad_(True)
    sampler = endpoint_sampler(surrogate, source="lab-cell", protocol=None, targets=[(OBSERVABLES[1], 3)])
    sampler(X).sum().backward()
    failure_probability(surrogate, "lab-cell", None)(X).sum().backward()
    assert all(p.grad is None for net in surrogate.ensemble.members for p in net.parameters())


def test_sampler_mean_is_predict_mean_with_the_same_seed(surrogate: Surrogate) -> None:
    X = snap_integers(cube(5, 1, seed=3))
    designs = SPACE.from_unit_cube(X[:, 0].numpy())
    prediction = surrogate.predict(designs, source="lab-cell", n_samples=6, seed=4)
    sampler = endpoint_sampler(surrogate, source="lab-cell", protocol=None, n_samples=6, seed=4,
                               targets=[(OBSERVABLES[0], CYCLES), (OBSERVABLES[1], 1)])
    expected = torch.stack([prediction.mean[:, CYCLES - 1, 0], prediction.mean[:, 0, 1]], dim=-1)
    assert torch.allclose(sampler(X).mean(dim=1)[:, 0].float(), expected, rtol=1e-5, atol=1e-6)


def test_failure_probability_is_the_members_mean(surrogate: Surrogate) -> None:
    X = snap_integers(cube(3, 2, seed=5))
    probability = failure_probability(surrogate, "pybamm-spm", None)(X)
    assert probability.shape == (3, 2) and probability.dtype == torch.float64
    designs = SPACE.from_unit_cube(X.reshape(-1, SPACE.dim).numpy())
    expected, _ = surrogate.feasibility(designs, source="pybamm-spm")
    assert torch.allclose(probability.reshape(-1).float(), expected, atol=1e-6)
    logits = endpoint_sampler(surrogate, source="pybamm-spm", protocol=None, targets=[(FAILURE_LOGIT, 0)],
                              n_samples=2)(X)[..., 0]
    assert torch.allclose(torch.sigmoid(logits).mean(dim=1), probability, atol=1e-5)


@pytest.mark.parametrize("targets", [[], [("SEI thickness [m]", 2)], [(OBSERVABLES[0], 0)],
                                     [(OBSERVABLES[0], 2.5)], [(OBSERVABLES[0], True)]])
def test_sampler_refuses_bad_targets(surrogate: Surrogate, targets: list[tuple[str, int]]) -> None:
    with pytest.raises(InvalidInputError):
        endpoint_sampler(surrogate, source="lab-cell", protocol=None, targets=targets)


def test_sampler_refuses_bad_samples_and_shapes(surrogate: Surrogate) -> None:
    targets = [(OBSERVABLES[0], 2)]
    with pytest.raises(InvalidInputError):
        endpoint_sampler(surrogate, source="lab-cell", protocol=None, targets=targets, n_samples=0)
    sampler = endpoint_sampler(surrogate, source="lab-cell", protocol=None, targets=targets)
    for bad in (torch.rand(2, SPACE.dim), torch.rand(2, 1, SPACE.dim + 1)):
        with pytest.raises(InvalidInputError):
            sampler(bad)


def test_failure_constraint_is_negative_where_feasible() -> None:
    Z = torch.tensor([[0.9, math.log(0.1 / 0.9)], [0.95, 0.0]])
    constraint = failure_constraint(1, 0.2)
    assert bool(constraint(Z)[0] < 0) and bool(constraint(Z)[1] > 0)
    assert float(failure_constraint(1, 0.5)(Z)[1]) == pytest.approx(0.0)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(InvalidInputError):
            failure_constraint(1, bad)


def test_importing_the_bridge_does_not_import_botorch() -> None:
    code = ("import json, sys\nimport interphase.models.acquisition_bridge\n"
            "print(json.dumps('botorch' in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100,
                               check=True)
    assert json.loads(completed.stdout.strip().splitlines()[-1]) is False
