"""What a run costs a strategy: the hours the campaign's clock charges it, never zero.

Every strategy prices a run in one unit, the simulated hours it holds a slot
(:func:`~interphase.agent.view.clock_hours`): lab hours for a source priced in them, on a
channel or on a CPU worker alike, CPU time otherwise. So a cell test, a simulation and an
instrument without channels that is priced in lab hours compare on one scale, and a
cost-aware choice (value per hour) means the same thing for each.
"""

from __future__ import annotations

from interphase.agent.view import CampaignView, clock_hours
from interphase.schema import Design

MIN_PRICE_H = 1e-9
"""The least price of a run, in hours (3.6 microseconds: below any real run's, so it changes no
real price). A source whose cost model charges nothing would otherwise be infinitely attractive
per hour, and BoTorch's cost-aware utilities divide by the cost and refuse a zero."""


def price_hours(view: CampaignView, source: str, design: Design) -> float:
    """The clock hours of a full-length run of ``design`` on ``source``, at least :data:`MIN_PRICE_H`.

    Args:
        view: The campaign now (its protocol is the run's).
        source: Source name.
        design: The design.

    Returns:
        Hours, strictly positive.
    """
    return max(clock_hours(view.estimate_cost(source, design, view.protocol)), MIN_PRICE_H)
