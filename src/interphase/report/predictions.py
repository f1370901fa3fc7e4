"""What the strategy predicted against what was observed: pairs, interval coverage, final candidates.

A launch (or replicate) decision stores, per run, the model's forecast of each observable
(``mean``, ``std``, quantiles such as ``q05`` and ``q95``, ``p_meet``). Each forecast of the
objective is paired with the value observed at the objective's index in the result of the
same request; the calibration is the share of those values inside each predicted central
interval whose two quantiles were stored (``q05``/``q95`` give the 90 % one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from interphase.report.data import ReportData, RunRecord

QUANTILE_KEY = re.compile(r"^q(\d{2})$")
TOP_CANDIDATES = 5


@dataclass(frozen=True)
class PredictionPair:
    """One forecast of the objective and the value the run then showed.

    Attributes:
        request_id: The run's request.
        source: Source it ran on.
        design_id: Stored design id.
        clock_h: Simulated hour of the decision that launched it.
        mean: Predicted mean.
        observed: Observed value at the objective's index.
        quantiles: Level in (0, 1) -> predicted quantile (those stored).
    """

    request_id: str
    source: str
    design_id: str
    clock_h: float | None
    mean: float
    observed: float
    quantiles: dict[float, float] = field(default_factory=dict)

    def interval(self, level: float) -> tuple[float, float] | None:
        """The central ``level`` interval from the stored quantiles, or None when not stored."""
        low, high = round((1 - level) / 2, 4), round((1 + level) / 2, 4)
        if low in self.quantiles and high in self.quantiles:
            return self.quantiles[low], self.quantiles[high]
        return None


@dataclass(frozen=True)
class Coverage:
    """Observed coverage of one central interval level over ``n`` forecasts."""

    level: float
    observed: float
    n: int


@dataclass(frozen=True)
class Candidate:
    """A final candidate design.

    Attributes:
        design_id: Stored design id.
        design: Values, SI.
        observed: Observed value of the objective (None when not stored).
        predicted: The stored forecast of the objective (``mean``, ``q05``, ...), possibly empty.
        verified: Whether this is the verified design.
    """

    design_id: str
    design: dict[str, Any]
    observed: float | None
    predicted: dict[str, float]
    verified: bool


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _quantiles(forecast: dict[str, Any]) -> dict[float, float]:
    found = {}
    for key, value in forecast.items():
        match, number = QUANTILE_KEY.match(key), _number(value)
        if match and number is not None:
            found[round(int(match.group(1)) / 100, 4)] = number
    return found


def _request_of(run: dict[str, Any], data: ReportData) -> str | None:
    """The run's request id; runs recorded without one are matched by design, source and seed."""
    if run.get("request_id"):
        return str(run["request_id"])
    for request in data.requests.values():
        if (request.design_id, request.source, request.seed) == (run.get("design_id"), run.get("source"),
                                                                  run.get("seed")):
            return request.id
    return None


def prediction_pairs(data: ReportData) -> list[PredictionPair]:
    """Forecasts of the objective paired with the observed values, in decision order."""
    if data.objective is None:
        return []
    observed = {r.request_id: r for r in data.runs if r.request_id is not None and r.objective is not None}
    pairs = []
    for decision in data.decisions_of("launch", "replicate"):
        for run in decision.chosen.get("runs") or []:
            forecast = (run.get("predicted") or {}).get(data.objective.observable) or {}
            mean, request_id = _number(forecast.get("mean")), _request_of(run, data)
            record = observed.get(request_id)
            if mean is None or record is None or record.objective is None or request_id is None:
                continue
            pairs.append(PredictionPair(request_id, record.source, record.design_id,
                                        _number(decision.chosen.get("clock_h")), mean, record.objective,
                                        _quantiles(forecast)))
    return pairs


def calibration(pairs: list[PredictionPair]) -> list[Coverage]:
    """Observed coverage of every central interval level some forecasts stored, by level."""
    levels = sorted({round(high - low, 4) for p in pairs for low in p.quantiles for high in p.quantiles
                     if low < 0.5 and math.isclose(low + high, 1.0)})
    points = []
    for level in levels:
        bounded = [(p.observed, bounds) for p in pairs if (bounds := p.interval(level)) is not None]
        inside = [low <= value <= high for value, (low, high) in bounded]
        if inside:
            points.append(Coverage(level, sum(inside) / len(inside), len(inside)))
    return points


def final_candidates(data: ReportData) -> list[Candidate]:
    """The ``finished`` decision's candidates; before it, the best full-length highest-fidelity designs.

    Without a finished decision, each design counts with its worst full-length run (as the
    engine ranks them), best first, at most :data:`TOP_CANDIDATES`.
    """
    observable = data.objective.observable if data.objective else None
    forecasts = _forecasts(data, observable)
    finished = data.decisions_of("finished")
    verified = data.decisions_of("verified")
    verified_id = verified[0].chosen.get("design_id") if verified else None
    if finished:
        out = []
        for c in finished[-1].chosen.get("candidates") or []:
            seen = c.get("observed") or {}
            value = seen.get(observable) if observable in seen else next(iter(seen.values()), None)
            stored = (c.get("predicted") or {}).get(observable) or forecasts.get(c.get("design_id"), {})
            out.append(Candidate(str(c.get("design_id")), dict(c.get("design") or {}), _number(value),
                                 {k: v for k, v in stored.items() if _number(v) is not None},
                                 bool(c.get("verified"))))
        return out
    sign = 1.0 if data.objective is None or data.objective.maximize else -1.0
    worst: dict[str, RunRecord] = {}
    for run in data.runs:
        if run.full_length and run.objective is not None:
            held = worst.get(run.design_id)
            if held is None or sign * run.objective < sign * (held.objective or 0.0):
                worst[run.design_id] = run
    ranked = sorted(worst.values(), key=lambda r: -sign * (r.objective or 0.0))[:TOP_CANDIDATES]
    return [Candidate(r.design_id, r.design, r.objective, forecasts.get(r.design_id, {}),
                      r.design_id == verified_id) for r in ranked]


def _forecasts(data: ReportData, observable: str | None) -> dict[str, dict[str, float]]:
    """Design id -> the latest stored forecast of ``observable`` for a run of it."""
    found: dict[str, dict[str, float]] = {}
    for decision in data.decisions_of("launch", "replicate"):
        for run in decision.chosen.get("runs") or []:
            forecast = (run.get("predicted") or {}).get(observable) if observable else None
            if forecast and run.get("design_id"):
                found[str(run["design_id"])] = {k: float(v) for k, v in forecast.items()
                                                if _number(v) is not None}
    return found
