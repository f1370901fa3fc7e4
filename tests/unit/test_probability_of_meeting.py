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


def test_replicates_must_all_meet_so_a_design_on_the_bound_is_worth_a_quarter_for_two_cells() -> None:
    x = torch.tensor([[[0.5, 0.0]], [[0.9, 0.0]]], dtype=torch.float64)  # on the bound; well above
    one = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], tau=0.05)
    two = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], tau=0.05, replicates=2)
    assert one(x).tolist() == pytest.approx([0.5, 1.0], abs=1e-3)
    assert two(x).tolist() == pytest.approx([0.25, 1.0], abs=1e-3)


def test_a_shared_offset_spread_is_drawn_per_design_not_per_cell() -> None:
    """With the uncertainty shared by a design's cells, two cells meet as often as one does."""
    x = torch.tensor([[[0.5, 0.0]], [[0.6, 0.0]]], dtype=torch.float64)
    spread = lambda x: torch.full((*x.shape[:-1], 1), 0.1, dtype=x.dtype)  # noqa: E731
    kwargs = {"tau": 1e-4, "offset_std": spread, "draws": 64}
    one = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], **kwargs)(x)
    two = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], replicates=2, **kwargs)(x)
    normal = torch.distributions.Normal(0.0, 1.0)
    assert one.tolist() == pytest.approx([0.5, float(normal.cdf(torch.tensor(1.0)))], abs=0.01)
    assert two.tolist() == pytest.approx(one.tolist(), abs=1e-9)
    # The batch's designs draw independently: two designs on the bound give 1 - 0.5^2, not 0.5.
    pair = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], **kwargs)(x[:1].repeat(1, 2, 1))
    assert float(pair) == pytest.approx(0.75, abs=0.02)
    # And the same batch scores the same on every call.
    again = qProbabilityOfMeeting(_model(), [OutputBound(0, 0.5)], **kwargs)(x)
    assert again.tolist() == one.tolist()
