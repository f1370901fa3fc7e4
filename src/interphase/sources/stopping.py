"""Early stopping of cycled tests: cut a run's observations at the protocol's stop rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from interphase.schema import Observation, Protocol


@dataclass(frozen=True)
class StopOutcome:
    """Where a run ends under its protocol's stop rule.

    Attributes:
        cycles: Cycles kept (1-based count), at most the cycles that ran.
        stopped: Whether the rule ended the test before ``protocol.n_cycles``.
        reason: Why it stopped, for the result's message; empty when not stopped.
    """

    cycles: int
    stopped: bool
    reason: str = ""


def stop_outcome(observations: Sequence[Observation], cycles_run: int, protocol: Protocol) -> StopOutcome:
    """Apply ``protocol.stop`` to the per-cycle observations of a run.

    Args:
        observations: What the source reports, per cycle (``index_unit == "cycle"``).
        cycles_run: Cycles that completed.
        protocol: The protocol; its ``stop`` rule, if any, decides.

    Returns:
        The last cycle to keep and whether the test was stopped early.
    """
    rule = protocol.stop
    if rule is None:
        return StopOutcome(cycles_run, False)
    last = cycles_run
    reason = ""
    if rule.observable is not None:
        crossing = [int(o.index) for o in observations
                    if o.observable == rule.observable and o.index_unit == "cycle" and rule.crossed(o.value)]
        if crossing and min(crossing) <= last:
            last = min(crossing)
            reason = f"{rule.observable} crossed its threshold in cycle {last} (stop {rule.describe()})"
    if rule.at_cycle is not None and rule.at_cycle <= last and (not reason or rule.at_cycle < last):
        last = rule.at_cycle
        reason = f"stopped after cycle {last} as the protocol asked (stop {rule.describe()})"
    if last >= protocol.n_cycles or not reason:  # ran to the end, or ended by itself first
        return StopOutcome(last, False)
    return StopOutcome(last, True, reason)

