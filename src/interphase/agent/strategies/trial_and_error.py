"""Trial and error: Sobol designs of the target's region, full-length tests at the highest fidelity only.

The benchmark's first baseline (``docs`` BENCHMARKS, "Baselines"): what a lab does without
a model. Designs come from one scrambled Sobol sequence of the target's region (its design
bounds, with its fixed values held), seeded by the campaign's seed; the k-th design launched
is the k-th point of the sequence, so the campaign is reproducible and resumes where it
stopped. Nothing runs anywhere but on the highest-fidelity source, always for the world's
whole protocol.

:func:`sobol_options` is shared with the BoTorch baselines, which start from the same sequence
of :class:`~interphase.agent.region.TargetRegion`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interphase.agent.options import Option, Proposal, ScoredOption
from interphase.agent.region import TargetRegion, is_new
from interphase.agent.strategies.pricing import price_hours
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CampaignView
from interphase.schema import Design, InvalidInputError

#: Keys of a run configuration's ``agent:`` block that the engine reads, not the strategy (none now:
#: the review interval is the strategy's own ``review_every_cycles``).
ENGINE_SETTINGS: frozenset[str] = frozenset()


def launched_on(view: CampaignView, source: str) -> list[Design]:
    """Designs of the region launched on ``source`` (finished or running, replicates too), in launch order."""
    return [run.design for run in view.runs_of(source, running=True) if view.check.in_region(run.design)]


def sobol_options(view: CampaignView, region: TargetRegion, source: str, slots: int,
                  taken: np.ndarray, why: str) -> list[ScoredOption]:
    """The next ``slots`` Sobol designs of the region for full-length runs of ``source``.

    The k-th design launched on ``source`` (not counting replicates) is the sequence's
    k-th point; points equal to a design in ``taken`` are skipped.

    Args:
        view: The campaign now.
        region: The target's region.
        source: The source to run them on.
        slots: How many to propose (>= 1).
        taken: ``n x d`` region coordinates not to repeat (launched or already chosen).
        why: The few words each option carries.

    Returns:
        At most ``slots`` options (fewer only for a region without free variables).
    """
    start = sum(1 for run in view.runs_of(source, running=True) if run.replicate_of is None)
    if region.dim == 0:
        design = region.from_region(np.empty((1, 0)))[0]
        done = any(run.design.values == design.values for run in view.runs_of(source, running=True))
        return [] if done else [_unscored(view, source, design, why)]
    chosen: list[int] = []
    stop = start + slots
    while len(chosen) < slots:
        points = region.sobol(stop, view.seed)
        chosen = []
        for index in range(start, stop):
            if is_new(points[index], taken) and is_new(points[index], points[chosen]):
                chosen.append(index)
            if len(chosen) == slots:
                break
        stop *= 2
    designs = region.from_region(points[chosen])
    return [_unscored(view, source, design, f"{why} #{index + 1}")
            for index, design in zip(chosen, designs, strict=True)]


def _unscored(view: CampaignView, source: str, design: Design, why: str) -> ScoredOption:
    return ScoredOption(option=Option(source=source, design=design, protocol=view.protocol),
                        value=0.0, cost=price_hours(view, source, design), utility=0.0, why=why)


class TrialAndError(Strategy):
    """Sobol designs of the target's region, full-length, on the highest-fidelity source.

    No settings. Deterministic: the same view gives the same proposal.
    """

    name = "trial-and-error"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        unknown = sorted(set(self.settings) - ENGINE_SETTINGS)
        if unknown:
            raise InvalidInputError(f"agent.{unknown[0]}", f"{self.name!r} takes no settings")

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        """The next Sobol designs for the highest-fidelity source's resource; None elsewhere."""
        source = view.highest_fidelity
        if resource != view.resource_of[source] or slots < 1:
            return None
        region = TargetRegion.of(view.design_space, view.target)
        taken = region.to_region(launched_on(view, source))
        chosen = sobol_options(view, region, source, slots, taken, "Sobol point")
        if not chosen:
            return None
        return Proposal(chosen=tuple(chosen),
                        reason=f"trial and error: next {len(chosen)} Sobol designs of the target region, "
                        f"{view.protocol.n_cycles}-cycle {source} tests",
                        scores={"strategy": self.name})


register_strategy(TrialAndError.name, TrialAndError)
