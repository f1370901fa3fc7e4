"""Runs in flight on the campaign's clock: when each started, ends, and what it has shown so far.

On the simulated clock sources are pure, so a launched run's result is computed when it is
launched (or recomputed after a crash: same design, protocol and seed, same result) and held
back until the clock reaches its end; a lab test streams its cycles as a cycler would: at
simulated hour ``t`` it has shown the cycles completed by then. On the real clock a flight has
no result until its worker posts one; what it has shown are the cycles the worker streamed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from interphase.agent.view import RunningTest, clock_hours
from interphase.schema import Cost, Design, Observation, Protocol, Result

CYCLE = "cycle"


@dataclass
class Flight:
    """A launched run and its (held back) result.

    Attributes:
        request_id: Its request.
        key: The request's idempotency key (the result is stored under ``key``).
        design_id: The stored design.
        design: The design.
        source: Source name.
        resource: The resource it occupies.
        protocol: The protocol it runs.
        seed: Its seed.
        started_h: Simulated hour it started.
        result: The full result, computed at launch (None until computed).
        replicate_of: Design id it repeats, for a verification replicate.
        stop_after: Cycle after which a stop decision ends it, if one was made.
        stopped_at_h: Simulated hour of that decision.
        estimate: The source's cost estimate, what a run without a result yet is counted at.
        streamed: Per-cycle observations its worker has streamed (real clock).
        result_id: The stored result's id, once its worker stored it (real clock).
    """

    request_id: str
    key: str
    design_id: str
    design: Design
    source: str
    resource: str
    protocol: Protocol
    seed: int
    started_h: float
    result: Result | None = None
    replicate_of: str | None = None
    stop_after: int | None = None
    stopped_at_h: float | None = None
    estimate: Cost | None = None
    streamed: tuple[Observation, ...] = ()
    result_id: str | None = None

    @property
    def cost(self) -> Cost:
        """What it costs: its result's cost, or the estimate before there is a result."""
        if self.result is not None:
            return self.result.cost
        return self.estimate if self.estimate is not None else Cost()

    @property
    def planned_cycles(self) -> int:
        """Cycles it runs unless stopped: its result's, or the protocol's before there is one."""
        if self.result is not None:
            return self.result.cycles_run or 0
        return self.protocol.n_cycles

    @property
    def duration_h(self) -> float:
        """Simulated hours the full run takes: its lab hours, or its estimated CPU time as hours.

        A run priced in CPU time holds its worker for the source's estimate, not for the time it
        happened to take on this machine: measured times vary from run to run and from one
        worker to another, and the simulated clock must not (the measured time is in the result).
        """
        assert self.result is not None
        if self.result.cost.lab_hours <= 0 and self.estimate is not None and self.estimate.lab_hours <= 0:
            return clock_hours(self.estimate)
        return clock_hours(self.result.cost)

    @property
    def end_h(self) -> float:
        """When it ends: its stop decision's hour, else start plus its full duration."""
        if self.stopped_at_h is not None:
            return self.stopped_at_h
        return self.started_h + self.duration_h

    @property
    def _cycle_hours(self) -> tuple[float, float]:
        """``(setup hours, hours per cycle)`` of a cycled lab test; ``(duration, 0)`` otherwise."""
        assert self.result is not None
        cycles = self.result.cycles_run or 0
        total = float(self.result.metadata.get("cycle_hours", 0.0) or 0.0)
        if cycles <= 0 or total <= 0 or self.result.cost.lab_hours <= 0:
            return self.duration_h, 0.0
        return self.result.cost.lab_hours - total, total / cycles

    def cycles_at(self, clock_h: float) -> int:
        """Cycles completed (and shown) by simulated hour ``clock_h``; on the real clock, those streamed."""
        if self.result is None:
            return int(max((o.index for o in self.streamed if o.index_unit == CYCLE), default=0))
        setup, per_cycle = self._cycle_hours
        if per_cycle <= 0:
            return 0
        done = math.floor((clock_h - self.started_h - setup) / per_cycle + 1e-9)
        return max(0, min(done, self.result.cycles_run or 0 if self.result else 0))

    def hour_of_cycle(self, cycle: int) -> float:
        """Simulated hour at which cycle ``cycle`` completes (inf for runs that do not stream)."""
        setup, per_cycle = self._cycle_hours
        if per_cycle <= 0:
            return math.inf
        return self.started_h + setup + cycle * per_cycle

    def _planned_end_h(self) -> float:
        """When its plan ends if nobody stops it, in simulated hours.

        A cycled test's last planned cycle (a cell that dies sooner is not foreseen), a
        simulation's end; before there is a result, the start plus the estimate's duration.
        """
        if self.result is None:
            return self.started_h + clock_hours(self.estimate) if self.estimate is not None else math.inf
        planned = self.hour_of_cycle(self.protocol.n_cycles)
        return planned if math.isfinite(planned) else self.end_h

    def view(self, clock_h: float) -> RunningTest:
        """What a strategy may see of it at ``clock_h``: the cycles done and their observations."""
        cycles = self.cycles_at(clock_h)
        shown = self.result.observations if self.result is not None else self.streamed
        prefix = tuple(o for o in shown if o.index_unit == CYCLE and o.index <= cycles)
        return RunningTest(request_id=self.request_id, design_id=self.design_id, design=self.design,
                           source=self.source, protocol=self.protocol, started_h=self.started_h,
                           expected_end_h=self._planned_end_h(),
                           cycles_done=cycles, prefix=prefix, replicate_of=self.replicate_of)
