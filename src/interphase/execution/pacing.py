"""When a paced worker shows a result: its cycles one by one, and the whole result at its end.

A worker that runs an emulated lab on the real clock holds each result back until the hour
its test would have reached it: at ``time_scale`` simulated seconds per wall second, cycle
``k`` of a test that began at wall time ``t0`` is due at
``t0 + (setup_h + k * per_cycle_h) * 3600 / time_scale``. The split into a set-up and equal
cycles is the campaign's own (``interphase.agent.flight``): the set-up is the test's lab
hours less its cycling hours (``metadata["cycle_hours"]``), and its cycles share the rest
equally. A result without cycling hours (a simulation) is due whole after its clock hours:
its lab hours, else its CPU time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from interphase.schema import Protocol, Result, StopRule

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Pace:
    """When each part of a result is due, in wall seconds after its run began.

    Attributes:
        setup_s: Wall seconds before the first cycle begins.
        cycle_s: Wall seconds per cycle; 0 for a result that does not stream.
        end_s: Wall seconds until the whole result is due.
        cycles: Cycles that stream (the result's ``cycles_run``; 0 when it does not stream).
    """

    setup_s: float
    cycle_s: float
    end_s: float
    cycles: int

    @property
    def streams(self) -> bool:
        """Whether the result's cycles come due one by one."""
        return self.cycles > 0 and self.cycle_s > 0

    def cycle_due_s(self, cycle: int) -> float:
        """Wall seconds after the start at which cycle ``cycle`` (1-based) completes."""
        return self.setup_s + cycle * self.cycle_s if self.streams else self.end_s

    def cycles_due(self, elapsed_s: float) -> int:
        """Cycles completed ``elapsed_s`` wall seconds after the start (0 to :attr:`cycles`)."""
        if not self.streams:
            return 0
        done = math.floor((elapsed_s - self.setup_s) / self.cycle_s + 1e-9)
        return max(0, min(done, self.cycles))


def pace_of(result: Result, time_scale: float) -> Pace:
    """The wall-clock schedule of ``result`` at ``time_scale``.

    Args:
        result: A computed result.
        time_scale: Simulated seconds per wall second (> 0); 3600 shows one lab hour a second.

    Returns:
        The schedule; cycles stream only for a result that reports its cycling hours.
    """
    wall_per_hour_s = SECONDS_PER_HOUR / time_scale
    cycles = result.cycles_run or 0
    cycling_h = float(result.metadata.get("cycle_hours", 0.0) or 0.0)
    lab_h = result.cost.lab_hours
    if cycles <= 0 or cycling_h <= 0 or lab_h <= 0:
        return Pace(setup_s=0.0, cycle_s=0.0, end_s=result.cost.clock_hours * wall_per_hour_s, cycles=0)
    per_cycle_h = cycling_h / cycles
    return Pace(setup_s=(lab_h - cycling_h) * wall_per_hour_s, cycle_s=per_cycle_h * wall_per_hour_s,
                end_s=lab_h * wall_per_hour_s, cycles=cycles)


def stopped_protocol(protocol: Protocol, after_cycle: int) -> Protocol:
    """``protocol`` ended after cycle ``after_cycle``, keeping any stop threshold it had.

    Args:
        protocol: The request's protocol.
        after_cycle: The last cycle to run (>= 1).

    Returns:
        The protocol whose run is the stopped test.
    """
    rule = protocol.stop
    if rule is None:
        return protocol.model_copy(update={"stop": StopRule(at_cycle=after_cycle)})
    at_cycle = after_cycle if rule.at_cycle is None else min(rule.at_cycle, after_cycle)
    return protocol.model_copy(update={"stop": rule.model_copy(update={"at_cycle": at_cycle})})
