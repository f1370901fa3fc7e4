"""Everything one report shows, computed once from the store and shared by the HTML and the PNGs."""

from __future__ import annotations

from dataclasses import dataclass

from interphase.report.data import ReportData, gather
from interphase.report.decisions import DecisionRow, decision_rows
from interphase.report.latent import UNTESTED, LatentMap, latent_map
from interphase.report.palette import source_colours
from interphase.report.predictions import (
    Candidate,
    Coverage,
    PredictionPair,
    calibration,
    final_candidates,
    prediction_pairs,
)
from interphase.report.series import (
    DiscoveryCurve,
    SourceCost,
    StopMark,
    TimelineBar,
    cost_by_source,
    discovery_curve,
    timeline,
)
from interphase.store import Store


@dataclass(frozen=True)
class ReportContent:
    """The numbers behind every section of a report.

    Attributes:
        data: What was read from the store.
        discovery: The discovery curve.
        costs: Cost per source.
        bars: Runs on the timeline.
        stops: Stop decisions on the timeline.
        pairs: Predicted against observed objective values.
        coverage: Observed coverage of the predicted intervals.
        latent: The latent map, or None.
        latent_note: Why there is no latent map ("" when there is one).
        candidates: The final candidates.
        decisions: The decision table.
        colours: Source name -> colour, the same in every figure.
    """

    data: ReportData
    discovery: DiscoveryCurve
    costs: list[SourceCost]
    bars: list[TimelineBar]
    stops: list[StopMark]
    pairs: list[PredictionPair]
    coverage: list[Coverage]
    latent: LatentMap | None
    latent_note: str
    candidates: list[Candidate]
    decisions: list[DecisionRow]
    colours: dict[str, str]

    @property
    def objective_label(self) -> str:
        """The objective as axis titles name it."""
        objective = self.data.objective
        return objective.label if objective else "objective (the target names none)"


def report_content(store: Store, campaign: str) -> ReportContent:
    """Read a campaign and compute every section of its report.

    Raises:
        NotFoundError: If there is no such campaign.
    """
    data = gather(store, campaign)
    bars, stops = timeline(data)
    pairs = prediction_pairs(data)
    latent, note = latent_map(store, data)
    names = set(data.spec.sources) | {r.source for r in data.runs} | {UNTESTED}
    return ReportContent(data=data, discovery=discovery_curve(data), costs=cost_by_source(data), bars=bars,
                         stops=stops, pairs=pairs, coverage=calibration(pairs), latent=latent,
                         latent_note=note,
                         candidates=final_candidates(data), decisions=decision_rows(data),
                         colours=source_colours(names))
