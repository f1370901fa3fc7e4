"""The probability that every replicate cell of a design meets the target (the agent's P(verify))."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from interphase.agent.strategies.interphase_agent import _bound_probability, _verify_probability
from interphase.schema.target import ObservableBound

RETENTION = "Capacity retention"


def _view(replicates: int) -> SimpleNamespace:
    target = SimpleNamespace(bounds=[ObservableBound(observable=RETENTION, lower=0.945)])
    return SimpleNamespace(target=target, check=SimpleNamespace(replicates=replicates))


def test_cells_that_scatter_about_the_bound_rarely_verify_but_a_design_with_margin_does() -> None:
    mean = torch.tensor([0.945, 0.975])
    epistemic = torch.tensor([1e-6, 1e-6])
    aleatoric = torch.tensor([0.01, 0.01])
    no_failure = torch.zeros(2)
    one = _verify_probability(_view(1), RETENTION, mean, epistemic, aleatoric, no_failure)
    two = _verify_probability(_view(2), RETENTION, mean, epistemic, aleatoric, no_failure)
    assert one.tolist() == pytest.approx(_bound_probability(_view(1), RETENTION, mean, aleatoric).tolist(),
                                         abs=1e-4)
    assert two.tolist() == pytest.approx([0.25, 0.9987 ** 2], abs=1e-3)


def test_uncertainty_about_the_design_is_shared_by_its_cells() -> None:
    """Cells scattering about the bound verify 1 in 4; cells moving with their uncertain design, 1 in 2."""
    view = _view(2)
    mean, aleatoric = torch.tensor([0.945]), torch.tensor([1e-5])
    shared = _verify_probability(view, RETENTION, mean, torch.tensor([0.02]), aleatoric, torch.zeros(1),
                                 draws=256)
    assert float(shared) == pytest.approx(0.5, abs=0.01)  # both cells follow the design
    scattered = _verify_probability(view, RETENTION, mean, torch.tensor([1e-6]), torch.tensor([0.02]),
                                    torch.zeros(1))
    assert float(scattered) == pytest.approx(0.25, abs=0.01)
    failing = _verify_probability(view, RETENTION, torch.tensor([0.99]), torch.tensor([1e-6]),
                                  torch.tensor([1e-3]), torch.tensor([0.2]))
    assert float(failing) == pytest.approx(0.8 ** 2, abs=1e-4)
