"""qProbabilityOfMeeting on a model whose samples are known: bounds, batches, offsets, survival."""

from __future__ import annotations

import pytest
import torch
from botorch.models.deterministic import GenericDeterministicModel

from interphase.acquisition.meeting import OutputBound, qProbabilityOfMeeting


def _model() -> GenericDeterministicModel:
    """One output: the first coordinate of the design."""
    return GenericDeterministicModel(lambda x: x[..., :1], num_outputs=1)


def test_a_design_above_the_bound_meets_it_and_one_below_does_not() -> None:
    acquisition = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], tau=1e-3)
    values = acquisition(torch.tensor([[[0.8, 0.0]], [[0.2, 0.0]]], dtype=torch.float64))
    assert values.tolist() == pytest.approx([1.0, 0.0], abs=1e-6)


def test_an_offset_moves_designs_across_the_bound_and_survival_discounts_them() -> None:
    x = torch.tensor([[[0.6, 0.0]], [[0.6, 1.0]]], dtype=torch.float64)  # b x q x d
    shifted = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], tau=1e-3,
                                    offset=lambda x: -0.2 * x[..., 1:2])  # the second coordinate costs 0.2
    assert shifted(x).tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    surviving = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], tau=1e-3,
                                      survival=lambda x: 1.0 - 0.5 * x[..., 1])
    assert surviving(x).tolist() == pytest.approx([1.0, 0.5], abs=1e-6)


def test_a_batch_meets_if_any_design_does_with_its_own_survival() -> None:
    x = torch.tensor([[[0.6, 0.5], [0.7, 0.5]]], dtype=torch.float64)
    acquisition = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], tau=1e-3,
                                        survival=lambda x: 1.0 - x[..., 1])
    assert float(acquisition(x)) == pytest.approx(1.0 - 0.5 * 0.5, abs=1e-6)
