"""The tensors the model trains on: a padded batch of records (the contract between dataset and model).

Shapes use ``B`` records, ``T`` cycles (cycle ``t + 1`` at position ``t``, padded to the
longest record), ``D`` design features, ``U`` controls, ``O`` per-cycle observables and
``C`` conditions of condition-indexed observables (e.g. ten temperatures), ``Oc`` of those.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class TrajectoryBatch:
    """A padded batch of records.

    Every record is one design under one source: a stored result (succeeded, stopped or
    failed, with whatever prefix of cycles it has), or a design without any result yet
    (``has_result == 0``), which only trains the design VAE.

    Attributes:
        x: ``B x D`` design features in [0, 1]: continuous and integer variables in the
            unit cube (log-scaled ones in log10), categorical ones one-hot.
        x_mask: ``B x D``; 1.0 where the feature is known, 0.0 where it is missing.
        source: ``B`` (long); index of the record's source in the dataset's vocabulary.
        u: ``B x T x U`` controls of each cycle (C-rates, ambient temperature, voltage
            limits from the design or the protocol), scaled to about [0, 1].
        y: ``B x T x O`` per-cycle observations in canonical units (0.0 where missing).
        y_mask: ``B x T x O``; 1.0 where observed.
        cycles: ``B`` (long); cycles the record covers (0 for none); positions at and
            after it are padding.
        has_result: ``B``; 1.0 for a stored result, 0.0 for a design without one.
        failed: ``B``; 1.0 if the run failed (any cause), else 0.0.
        cond_y: ``B x C x Oc`` condition-indexed observations, canonical units.
        cond_mask: ``B x C x Oc``; 1.0 where observed.
    """

    x: Tensor
    x_mask: Tensor
    source: Tensor
    u: Tensor
    y: Tensor
    y_mask: Tensor
    cycles: Tensor
    has_result: Tensor
    failed: Tensor
    cond_y: Tensor
    cond_mask: Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def index(self, rows: Tensor) -> TrajectoryBatch:
        """The records at ``rows`` (a long tensor of positions, repeats allowed)."""
        return TrajectoryBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def to(self, device: torch.device | str) -> TrajectoryBatch:
        """The same batch on ``device``."""
        return TrajectoryBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def truncated(self, cycles: int) -> TrajectoryBatch:
        """The batch cut to its first ``cycles`` positions (for prefix conditioning)."""
        keep = min(cycles, self.u.shape[1])
        return TrajectoryBatch(
            x=self.x, x_mask=self.x_mask, source=self.source, u=self.u[:, :keep], y=self.y[:, :keep],
            y_mask=self.y_mask[:, :keep], cycles=torch.clamp(self.cycles, max=keep),
            has_result=self.has_result, failed=self.failed, cond_y=self.cond_y, cond_mask=self.cond_mask)
