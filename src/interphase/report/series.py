"""The numbers behind the report's time figures: discovery curve, cost by source, timeline.

Each function takes :class:`~interphase.report.data.ReportData` and returns plain numbers, so
the plotly figures, the PNG copies and the tests read the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

from interphase.report.data import ReportData, RunRecord


@dataclass(frozen=True)
class BestSoFar:
    """A best-so-far curve: at each run's arrival, the best objective up to then.

    Attributes:
        hours: Simulated hours of the arrivals, ascending.
        best: Best objective value up to each arrival.
        values: The arriving run's own objective value.
        result_ids: The arriving run's result id.
    """

    hours: list[float]
    best: list[float]
    values: list[float]
    result_ids: list[str]


@dataclass(frozen=True)
class DiscoveryCurve:
    """Best objective over simulated time on full-length highest-fidelity runs.

    Attributes:
        met: Among runs that met the target.
        all_runs: Among every full-length highest-fidelity run.
        verified_h: Simulated hour a design was verified, or None.
    """

    met: BestSoFar
    all_runs: BestSoFar
    verified_h: float | None


@dataclass(frozen=True)
class SourceCost:
    """What one source cost the campaign.

    Attributes:
        source: Source name.
        runs: Results it delivered.
        lab_hours: Lab (channel) hours in all.
        cpu_hours: CPU hours in all.
    """

    source: str
    runs: int
    lab_hours: float
    cpu_hours: float


@dataclass(frozen=True)
class TimelineBar:
    """One run on the timeline: its lane of its source, from start to finish (simulated hours)."""

    source: str
    lane: int
    started_h: float
    finished_h: float
    status: str
    request_id: str | None
    design_id: str


@dataclass(frozen=True)
class StopMark:
    """A stop decision: a running test ended early, at ``clock_h`` after cycle ``after_cycle``."""

    source: str
    lane: int
    clock_h: float
    after_cycle: int | None
    request_id: str


def _best_so_far(runs: list[RunRecord], maximize: bool) -> BestSoFar:
    timed = sorted((r for r in runs if r.finished_h is not None and r.objective is not None),
                   key=lambda r: (r.finished_h, r.result_id))
    curve = BestSoFar([], [], [], [])
    for run in timed:
        assert run.finished_h is not None and run.objective is not None
        best = run.objective if not curve.best else (max if maximize else min)(curve.best[-1], run.objective)
        curve.hours.append(run.finished_h)
        curve.best.append(best)
        curve.values.append(run.objective)
        curve.result_ids.append(run.result_id)
    return curve


def discovery_curve(data: ReportData) -> DiscoveryCurve:
    """The discovery curve: best objective against simulated hours, and when a design was verified."""
    maximize = data.objective.maximize if data.objective else True
    full = [r for r in data.runs if r.full_length]
    verified = data.decisions_of("verified")
    verified_h = verified[0].chosen.get("clock_h") if verified else None
    return DiscoveryCurve(met=_best_so_far([r for r in full if r.meets_target], maximize),
                          all_runs=_best_so_far(full, maximize),
                          verified_h=float(verified_h) if isinstance(verified_h, int | float) else None)


def cost_by_source(data: ReportData) -> list[SourceCost]:
    """Lab and CPU hours per source, summed over the stored results, by source name."""
    totals: dict[str, list[float]] = {}
    for run in data.runs:
        entry = totals.setdefault(run.source, [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += run.lab_hours
        entry[2] += run.cpu_hours
    return [SourceCost(source, int(n), lab, cpu) for source, (n, lab, cpu) in sorted(totals.items())]


def timeline(data: ReportData) -> tuple[list[TimelineBar], list[StopMark]]:
    """The runs as bars on lanes (a channel or worker each), and the stop decisions on them.

    The store does not record which channel ran a test, so runs are placed on the first
    lane of their source that is free when they start: as many lanes as ran at once.
    """
    timed = sorted((r for r in data.runs if r.started_h is not None and r.finished_h is not None),
                   key=lambda r: (r.source, r.started_h, r.result_id))
    lanes_free_h: dict[str, list[float]] = {}
    bars: list[TimelineBar] = []
    for run in timed:
        assert run.started_h is not None and run.finished_h is not None
        lanes = lanes_free_h.setdefault(run.source, [])
        lane = next((i for i, free_h in enumerate(lanes) if free_h <= run.started_h + 1e-9), len(lanes))
        if lane == len(lanes):
            lanes.append(run.finished_h)
        lanes[lane] = run.finished_h
        bars.append(TimelineBar(run.source, lane, run.started_h, run.finished_h, run.status, run.request_id,
                                run.design_id))
    by_request = {b.request_id: b for b in bars if b.request_id is not None}
    marks = (_stop_mark(d.chosen, d.request_id, by_request) for d in data.decisions_of("stop"))
    stops = [mark for mark in marks if mark is not None]
    return bars, stops


def _stop_mark(chosen: dict, decision_request: str | None, bars: dict[str, TimelineBar]) -> StopMark | None:
    """Place a stop decision on the lane of the run it stopped (None when that run has no bar)."""
    request_id = chosen.get("request_id") or decision_request
    bar = bars.get(request_id) if request_id else None
    if bar is None or request_id is None:
        return None
    clock, after = chosen.get("clock_h"), chosen.get("after_cycle")
    return StopMark(source=bar.source, lane=bar.lane,
                    clock_h=float(clock) if isinstance(clock, int | float) else bar.finished_h,
                    after_cycle=int(after) if isinstance(after, int) else None, request_id=request_id)
