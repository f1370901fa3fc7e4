"""Simulate before you build: the lab's next designs run on the reference simulator first.

A lab test costs hundreds of hours; a run of the simulator the lab's forecasts come from costs
seconds. So before a design goes to a cell, the agent runs it on that simulator, refits, and
asks again which designs the lab should test. Designs that the simulator rates worse than the
model's interpolation did drop out, and so do those it cannot run at all (a protocol the
physics model cannot complete is no safe bet for a cell). The loop ends when the lab's picks have
all been simulated, or after ``rounds_allowed`` rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from interphase.agent.view import CampaignView
from interphase.schema import Design

RUNNING = "running"


@dataclass
class ReferenceShortlist:
    """The lab's picks that wait for their reference runs.

    Attributes:
        rounds_allowed: Rounds of simulate -> refit -> pick again before the lab launches anyway.
        fresh: Content hash -> design, of the designs added since the last refit.
        rounds: Rounds held since the last lab launch.
    """

    rounds_allowed: int
    fresh: dict[str, Design] = field(default_factory=dict)
    rounds: int = 0

    @staticmethod
    def status(view: CampaignView, reference: str) -> dict[str, str]:
        """Content hash -> ``"running"`` or the result's status, for every run of ``reference``."""
        out: dict[str, str] = {}
        for run in view.runs_of(reference):
            result = getattr(run, "result", None)
            out[run.design.content_hash()] = RUNNING if result is None else result.status.value
        return out

    def hold(self, view: CampaignView, reference: str, picks: Sequence[Design]) -> bool:
        """Whether the lab waits: a shortlisted design still runs, or ``picks`` holds unsimulated ones.

        Unsimulated picks join the shortlist and start a new round, unless ``rounds_allowed``
        rounds were held already.
        """
        status = self.status(view, reference)
        if any(status.get(key, RUNNING) == RUNNING for key in self.fresh):
            return True
        missing = {d.content_hash(): d for d in picks if d.content_hash() not in status}
        if not missing or self.rounds >= self.rounds_allowed:
            return False
        self.fresh.update(missing)
        self.rounds += 1
        return True

    def wanted(self, view: CampaignView, reference: str, slots: int) -> list[Design]:
        """Up to ``slots`` shortlisted designs with no run of ``reference`` yet."""
        status = self.status(view, reference)
        return [d for key, d in self.fresh.items() if key not in status][:max(slots, 0)]

    def ready_to_fit(self, view: CampaignView, reference: str) -> bool:
        """Whether every shortlisted design has a finished reference run the model has not seen."""
        if not self.fresh:
            return False
        status = self.status(view, reference)
        return all(status.get(key, RUNNING) != RUNNING for key in self.fresh)

    def fitted(self) -> None:
        """The model has learnt the shortlist's runs."""
        self.fresh.clear()

    def launched(self) -> None:
        """The lab launched: the next launch starts from round 0."""
        self.fresh.clear()
        self.rounds = 0

    def simulated(self, view: CampaignView, reference: str) -> list[Design]:
        """The designs ``reference`` ran to the end (the lab may pick them as they are)."""
        return [run.design for run in view.runs_of(reference, running=False)
                if run.result.status.value == "succeeded"]
