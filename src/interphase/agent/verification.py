"""The verification rule: when a design counts as verified, and which replicates it still needs.

A design is verified once ``replicates`` full-length runs on the highest-fidelity source all met
the target. The engine queues the replicates of a hit itself, for every strategy alike, so that
strategies compare on what they find, not on how they confirm it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from interphase.agent.flight import Flight
from interphase.agent.target import TargetCheck
from interphase.agent.view import CompletedRun
from interphase.schema import Design

ASSEMBLY_DEFECT = "assembly defect"
"""The lab's ``failure_cause`` for a fault of one cell build, not of its design."""


@dataclass(frozen=True)
class VerificationRule:
    """Which runs verify a design.

    Attributes:
        highest: The highest-fidelity source, the one the target is verified on.
        replicates: Full-length runs of one design that must all meet the target.
        check: The target's evaluator.
    """

    highest: str
    replicates: int
    check: TargetCheck

    def counted(self, run: CompletedRun) -> bool:
        """Whether a run counts towards verifying its design.

        It does when it is a highest-fidelity run that ran to its end or failed for a cause of
        the design. An assembly defect is a fault of one cell build, not of the design (the lab
        says so in ``failure_cause``): it neither verifies nor rules out the design.
        """
        return (run.source == self.highest and run.meets_target is not None
                and run.result.metadata.get("failure_cause") != ASSEMBLY_DEFECT)

    def hits(self, completed: Sequence[CompletedRun], flights: Iterable[Flight]) -> list[tuple[str, Design]]:
        """Designs with a full-length highest-fidelity run that met the target and no miss since.

        A miss is a counted run that did not meet the target, or a highest-fidelity test the
        strategy stopped: it judged that the test would not meet the target, so it can never be
        one of the replicates, and queueing another would only repeat the judgement (a marginal
        design whose cells scatter about the bound was replicated and stopped over and over).
        """
        hits: dict[str, Design] = {}
        missed = {c.design_id for c in completed
                  if (self.counted(c) and c.meets_target is False)
                  or (c.source == self.highest and c.stopped)}
        missed |= {f.design_id for f in flights  # stopped, its result not yet in
                   if f.source == self.highest and f.stopped_at_h is not None}
        for run in completed:
            if run.source == self.highest and run.meets_target and run.design_id not in missed:
                hits.setdefault(run.design_id, run.design)
        return list(hits.items())

    def missing(self, completed: Sequence[CompletedRun], flights: Sequence[Flight],
                free: int) -> list[tuple[str, Design]]:
        """The replicates to queue now, one entry per run, at most ``free`` of them."""
        if self.replicates <= 1 or free <= 0:
            return []
        wanted: list[tuple[str, Design]] = []
        for design_id, design in self.hits(completed, flights):
            passed = [c for c in completed if c.design_id == design_id and c.source == self.highest
                      and c.meets_target]
            running = [f for f in flights if f.design_id == design_id and f.source == self.highest
                       and f.stopped_at_h is None]
            missing = self.replicates - len(passed) - len(running)
            wanted.extend([(design_id, design)] * max(0, min(missing, free - len(wanted))))
        return wanted

    def verdict(self, completed: Sequence[CompletedRun], flights: Sequence[Flight],
                clock_h: float) -> tuple[dict[str, Any], str] | None:
        """The ``verified`` decision (its record and reason) once a design qualifies; None before."""
        for design_id, design in self.hits(completed, flights):
            runs = [c for c in completed if c.design_id == design_id and self.counted(c)]
            if len(runs) >= self.replicates and all(c.meets_target for c in runs):
                scores = [self.check.objective(c.result) for c in runs]
                chosen = {"kind": "verified", "clock_h": clock_h, "design_id": design_id,
                          "design": dict(design.values), "objective": min(s for s in scores if s is not None),
                          "runs": [c.request_id for c in runs]}
                reason = (f"verified: {len(runs)} full-length {self.highest} runs of one design met the "
                          f"target (objective {', '.join(f'{s:.4g}' for s in scores if s is not None)})")
                return chosen, reason
        return None
