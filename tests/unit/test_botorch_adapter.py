"""The ensemble-to-BoTorch adapter: posteriors, MC acquisition and optimize_acqf on a toy ensemble."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from interphase.models.botorch_adapter import EndpointEnsembleModel, EnsembleEnumerationSampler
from interphase.schema import InvalidInputError

with warnings.catch_warnings():  # the adapter has imported BoTorch quietly; this is belt and braces
    warnings.filterwarnings(
        "ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning
    )
    from botorch.acquisition import qLogExpectedImprovement, qLogNoisyExpectedImprovement, qSimpleRegret
    from botorch.acquisition.objective import LinearMCObjective, ScalarizedPosteriorTransform
    from botorch.optim import optimize_acqf
    from botorch.posteriors.ensemble import EnsemblePosterior

pytestmark = pytest.mark.timeout(40)

DIM, MEMBERS, LATENT = 3, 5, 4
UNIT_CUBE = torch.stack([torch.zeros(DIM), torch.ones(DIM)]).double()


class ToyEnsemble(torch.nn.Module):
    """``MEMBERS`` smooth random functions, each with ``LATENT`` fixed noise draws.

    Output 0 rises with the sum of the design (best at the all-ones corner); output 1, when
    present, is ``x_0 - 0.5`` plus a small member-dependent wobble: a feasibility score that
    is negative (feasible) for ``x_0`` below about one half.
    """

    def __init__(self, outputs: int = 1, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.outputs = outputs
        self.frequency = 3.0 * torch.randn(MEMBERS, DIM, generator=generator, dtype=torch.float64)
        self.phase = 2 * math.pi * torch.rand(MEMBERS, generator=generator, dtype=torch.float64)
        self.offset = 0.05 * torch.randn(MEMBERS, generator=generator, dtype=torch.float64)
        self.noise = 0.05 * torch.randn(LATENT, generator=generator, dtype=torch.float64)
        self.calls = 0

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        wobble = torch.sin(torch.einsum("bqd,kd->bkq", X, self.frequency) + self.phase[:, None])
        objective = X.sum(-1).unsqueeze(1) + 0.3 * wobble  # b x K x q
        columns = [objective]
        if self.outputs == 2:
            columns.append(X[..., 0].unsqueeze(1) - 0.5 + self.offset[:, None] + 0.02 * wobble)
        members = torch.stack(columns, dim=-1)  # b x K x q x m
        samples = members.unsqueeze(2) + self.noise[:, None, None]  # b x K x L x q x m
        return samples.reshape(X.shape[0], MEMBERS * LATENT, X.shape[1], self.outputs)


def toy_model(outputs: int = 1) -> EndpointEnsembleModel:
    return EndpointEnsembleModel(ToyEnsemble(outputs), num_outputs=outputs, dim=DIM)


@pytest.mark.parametrize("batch_shape", [(), (4,), (3, 4)])
def test_posterior_shapes_and_moments(batch_shape: tuple[int, ...]) -> None:
    model = toy_model()
    X = torch.rand(*batch_shape, 2, DIM, dtype=torch.float64)
    posterior = model.posterior(X)
    assert isinstance(posterior, EnsemblePosterior)
    assert posterior.values.shape == (*batch_shape, MEMBERS * LATENT, 2, 1)
    assert posterior.mean.shape == (*batch_shape, 2, 1)
    assert posterior.variance.shape == (*batch_shape, 2, 1)
    values = model.sample_endpoints(X.reshape(-1, 2, DIM)).reshape(*batch_shape, MEMBERS * LATENT, 2, 1)
    torch.testing.assert_close(posterior.mean, values.mean(dim=-3))
    torch.testing.assert_close(posterior.variance, values.var(dim=-3))


def test_posterior_is_deterministic() -> None:
    model = toy_model()
    X = torch.rand(5, 2, DIM, dtype=torch.float64)
    torch.testing.assert_close(model.posterior(X).values, model.posterior(X).values, rtol=0, atol=0)


def test_bad_inputs_raise() -> None:
    model = toy_model()
    with pytest.raises(InvalidInputError, match="X"):
        model.posterior(torch.rand(4, 2, DIM + 1, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="observation_noise"):
        model.posterior(torch.rand(4, 2, DIM, dtype=torch.float64), observation_noise=torch.ones(1))
    with pytest.raises(InvalidInputError, match="output_indices"):
        model.posterior(torch.rand(4, 2, DIM, dtype=torch.float64), output_indices=[1])
    wrong = EndpointEnsembleModel(lambda X: X.unsqueeze(1), num_outputs=1, dim=DIM)
    with pytest.raises(InvalidInputError, match="sample_endpoints"):
        wrong.posterior(torch.rand(4, 2, DIM, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="num_outputs"):
        EndpointEnsembleModel(ToyEnsemble(), num_outputs=0, dim=DIM)


def test_gradients_reach_the_designs() -> None:
    acquisition = qLogExpectedImprovement(toy_model(), best_f=1.5)
    X = torch.rand(4, 2, DIM, dtype=torch.float64, requires_grad=True)
    acquisition(X).sum().backward()
    assert X.grad is not None
    assert torch.isfinite(X.grad).all()
    assert X.grad.abs().sum() > 0


@pytest.mark.parametrize("enumerate_samples", [False, True])
def test_optimize_acqf_returns_candidates_in_the_unit_cube(enumerate_samples: bool) -> None:
    sampler = EnsembleEnumerationSampler(MEMBERS * LATENT) if enumerate_samples else None
    acquisition = qLogExpectedImprovement(toy_model(), best_f=1.5, sampler=sampler)
    candidates, value = optimize_acqf(acquisition, bounds=UNIT_CUBE, q=2, num_restarts=2, raw_samples=32)
    assert candidates.shape == (2, DIM)
    assert ((candidates >= 0) & (candidates <= 1)).all()
    assert torch.isfinite(value).all()
    # The objective rises with the design sum, so one candidate should sit near the corner.
    assert candidates.sum(-1).max() > 2.5


def test_noisy_expected_improvement_runs_on_the_ensemble() -> None:
    baseline = torch.rand(6, DIM, dtype=torch.float64)
    acquisition = qLogNoisyExpectedImprovement(toy_model(), X_baseline=baseline)
    candidates, value = optimize_acqf(acquisition, bounds=UNIT_CUBE, q=2, num_restarts=2, raw_samples=32)
    assert ((candidates >= 0) & (candidates <= 1)).all()
    assert torch.isfinite(value).all()


def test_output_indices_and_scalarized_transform_on_two_outputs() -> None:
    model = toy_model(outputs=2)
    X = torch.rand(4, 2, DIM, dtype=torch.float64)
    full = model.posterior(X)
    assert full.mean.shape == (4, 2, 2)
    torch.testing.assert_close(model.posterior(X, output_indices=[1]).mean, full.mean[..., 1:])
    weights = torch.tensor([0.5, 2.0], dtype=torch.float64)
    transform = ScalarizedPosteriorTransform(weights, offset=1.0)
    scalar = model.posterior(X, posterior_transform=transform)
    assert scalar.values.shape == (4, MEMBERS * LATENT, 2, 1)
    torch.testing.assert_close(scalar.mean.squeeze(-1), 1.0 + full.mean @ weights)
    acquisition = qLogExpectedImprovement(model, best_f=1.0, posterior_transform=transform)
    assert torch.isfinite(acquisition(X)).all()


def test_feasibility_folds_in_through_constraints() -> None:
    model = toy_model(outputs=2)
    objective = LinearMCObjective(torch.tensor([1.0, 0.0], dtype=torch.float64))
    free = qLogExpectedImprovement(model, best_f=1.0, objective=objective)
    constrained = qLogExpectedImprovement(
        model, best_f=1.0, objective=objective, constraints=[lambda Z: Z[..., 1]]
    )
    free_x, _ = optimize_acqf(free, bounds=UNIT_CUBE, q=1, num_restarts=2, raw_samples=32)
    constrained_x, value = optimize_acqf(constrained, bounds=UNIT_CUBE, q=1, num_restarts=2, raw_samples=32)
    assert free_x[0, 0] > 0.9
    assert constrained_x[0, 0] < 0.6
    assert constrained_x[0, 1:].min() > 0.8  # still pushes the unconstrained coordinates up
    assert torch.isfinite(value).all()


def test_enumeration_sampler_gives_the_exact_ensemble_average() -> None:
    model = toy_model()
    X = torch.rand(4, 2, DIM, dtype=torch.float64)
    acquisition = qSimpleRegret(model, sampler=EnsembleEnumerationSampler(MEMBERS * LATENT))
    expected = model.posterior(X).values.squeeze(-1).max(dim=-1).values.mean(dim=-1)
    torch.testing.assert_close(acquisition(X), expected)
    with pytest.raises(InvalidInputError, match="ensemble_size"):
        qSimpleRegret(model, sampler=EnsembleEnumerationSampler(7))(X)
