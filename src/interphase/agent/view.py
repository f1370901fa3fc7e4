"""What a strategy sees of a campaign at a decision: the clock, finished and running tests, free slots.

The view is built by the engine from the store (finished runs) and from the emulated
instruments (the cycles a running test has completed by now, as a real cycler would stream
them). It holds no hidden truth: sources are reached through their specs and cost
estimates only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interphase.schema import Cost, Design, DesignSpace, Observation, Protocol, Result, SourceSpec, TargetSpec

if TYPE_CHECKING:
    from interphase.agent.target import TargetCheck
    from interphase.store import Store

CPU = "cpu"
"""The resource every simulation shares: the campaign's CPU workers."""


def clock_hours(cost: Cost) -> float:
    """Simulated hours a run holds its slot on the campaign's clock (:attr:`Cost.clock_hours`).

    Args:
        cost: The run's cost.

    Returns:
        Hours (0 for a run that costs nothing).
    """
    return cost.clock_hours


@dataclass(frozen=True)
class CompletedRun:
    """A run whose result is in the store.

    Attributes:
        request_id: Its request.
        design_id: The stored design.
        design: The design, SI.
        source: Source name.
        result: The stored result (observations, status, cost).
        started_h: Simulated hour it started.
        finished_h: Simulated hour its result arrived.
        meets_target: Whether it meets the campaign's target (None: not a candidate, e.g. a
            simulation or a stopped test).
        replicate_of: Design id it repeats, for a verification replicate.
        stopped: Whether the campaign stopped it early.
    """

    request_id: str
    design_id: str
    design: Design
    source: str
    result: Result
    started_h: float
    finished_h: float
    meets_target: bool | None
    replicate_of: str | None = None
    stopped: bool = False


@dataclass(frozen=True)
class RunningTest:
    """A launched run without a result yet.

    Attributes:
        request_id: Its request.
        design_id: The stored design.
        design: The design, SI.
        source: Source name.
        protocol: The protocol it runs (``n_cycles`` planned).
        started_h: Simulated hour it started.
        expected_end_h: When its plan ends if nobody stops it (simulated hours; a cell that
            will die sooner is not foreseen).
        cycles_done: Cycles completed by now (0 for a simulation, which reports at the end).
        prefix: The per-cycle observations of those cycles, as the instrument streams them.
        replicate_of: Design id it repeats, for a verification replicate.
    """

    request_id: str
    design_id: str
    design: Design
    source: str
    protocol: Protocol
    started_h: float
    expected_end_h: float
    cycles_done: int
    prefix: tuple[Observation, ...] = ()
    replicate_of: str | None = None


@dataclass
class CampaignView:
    """A campaign at one decision.

    Attributes:
        campaign: Campaign name (its records in the store).
        store: The store (strategies read finished records through it, e.g. to fit a model).
        design_space: The space to choose designs from.
        protocol: The default protocol; ``n_cycles`` is the horizon.
        target: The (possibly partial) target.
        check: Evaluates the target on results and designs.
        sources: Source name -> its spec (fidelity, observables, cost model).
        resource_of: Source name -> the resource it occupies (a lab source's own channels,
            named after it, or :data:`CPU`).
        estimate_cost: ``(source, design, protocol) -> Cost`` known before a run.
        highest_fidelity: The source the target must be verified on.
        clock_h: Simulated hours since the campaign began.
        completed: Finished runs, in order of arrival.
        running: Runs in flight.
        free: Resource -> free slots now.
        capacity: Resource -> slots in all.
        budget_left: ``{"lab_hours", "cpu_hours"}`` still to spend.
        seed: The campaign's root seed.
        decisions: Decisions logged so far.
    """

    campaign: str
    store: Store
    design_space: DesignSpace
    protocol: Protocol
    target: TargetSpec
    check: TargetCheck
    sources: dict[str, SourceSpec]
    resource_of: dict[str, str]
    estimate_cost: Callable[[str, Design, Protocol], Cost]
    highest_fidelity: str
    clock_h: float
    completed: list[CompletedRun] = field(default_factory=list)
    running: list[RunningTest] = field(default_factory=list)
    free: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    budget_left: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    decisions: int = 0

    def sources_on(self, resource: str) -> list[str]:
        """The sources that run on ``resource``, by fidelity (lowest first)."""
        names = [name for name, where in self.resource_of.items() if where == resource]
        return sorted(names, key=lambda name: (self.sources[name].fidelity, name))

    def runs_of(self, source: str, *, running: bool = True) -> Sequence[CompletedRun | RunningTest]:
        """Finished (and, with ``running``, running) runs of ``source``."""
        done: list[CompletedRun | RunningTest] = [c for c in self.completed if c.source == source]
        return done + ([r for r in self.running if r.source == source] if running else [])
