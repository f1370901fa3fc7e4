"""What a strategy proposes: runs to launch, tests to stop, each scored and explained.

A :class:`Proposal` is one decision of a campaign: the runs chosen for free channels or
workers (:class:`ScoredOption`), the best options not chosen (runners-up, with their scores)
and a one-line reason a person can read. A :class:`StopOrder` ends a running test early.
Both are logged in the store as decisions before anything is launched, so a crashed campaign
resumes from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interphase.schema import Design, Protocol


@dataclass(frozen=True)
class Option:
    """A run a strategy could launch.

    Attributes:
        source: Source name (e.g. ``"lab-cell"``, ``"pybamm-spm"``).
        design: The design, SI, inside the campaign's design space.
        protocol: The protocol (its ``n_cycles`` is the planned test length).
        replicate_of: For a replicate test, the design id of the design it repeats.
    """

    source: str
    design: Design
    protocol: Protocol
    replicate_of: str | None = None


@dataclass(frozen=True)
class ScoredOption:
    """An option with the numbers that ranked it.

    Attributes:
        option: The run.
        value: What the run is expected to bring (the strategy's unit, e.g. probability of
            a verified hit, expected improvement, epistemic std reduced).
        cost: Its expected cost in the resource it occupies (lab hours, or CPU hours).
        utility: ``value / cost`` or whatever the strategy ranks by (higher is better).
        predicted: What the model predicts for it (e.g. ``{"Capacity retention": {"mean": ..,
            "std": .., "p_meet": ..}}``), for the report's predicted-against-observed plot.
        why: A few words for this option.
    """

    option: Option
    value: float
    cost: float
    utility: float
    predicted: dict[str, Any] = field(default_factory=dict)
    why: str = ""


@dataclass(frozen=True)
class Proposal:
    """One decision: runs to launch on one resource, the best runs not chosen, and why.

    Attributes:
        chosen: The runs to launch now, at most the free slots of the resource.
        runners_up: The next best options (a few), with their scores.
        reason: One line for people, e.g. ``"DFN at 150 cycles: epistemic std of retention
            0.04 > 0.01 at 1/50 the lab cost"``.
        scores: Anything else the strategy wants on record (model version, acquisition
            values, timings).
    """

    chosen: tuple[ScoredOption, ...]
    runners_up: tuple[ScoredOption, ...] = ()
    reason: str = ""
    scores: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StopOrder:
    """End a running test after the cycles it has completed.

    Attributes:
        request_id: The running request.
        after_cycle: The last cycle it keeps (the cycles seen at the decision).
        reason: One line for people.
        predicted: The forecast that led to it (e.g. ``{"p_meet": 0.01, "mean": 0.87}``).
    """

    request_id: str
    after_cycle: int
    reason: str
    predicted: dict[str, Any] = field(default_factory=dict)
