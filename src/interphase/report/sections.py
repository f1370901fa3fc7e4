"""The report's figure sections, in page order: title, plotly figure, PNG copy, caption, empty note."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from interphase.report import figures, png
from interphase.report.content import ReportContent


@dataclass(frozen=True)
class FigureSection:
    """One figure of the report.

    Attributes:
        key: Anchor of the section and stem of its PNG (``discovery`` -> ``discovery.png``).
        title: Heading shown on the page.
        plotly: Builds the interactive figure (None: nothing to draw yet).
        png: Writes the PNG copy (False: nothing to draw yet).
        caption: What the figure shows, in a sentence.
        empty: What the page says instead when there is nothing to draw.
    """

    key: str
    title: str
    plotly: Callable[[ReportContent], go.Figure | None]
    png: Callable[[ReportContent, Path], bool]
    caption: str
    empty: str


SECTIONS: tuple[FigureSection, ...] = (
    FigureSection("discovery", "Discovery curve", figures.discovery_figure, png.discovery_png,
                  "Best objective so far over simulated time, among full-length runs on the highest-fidelity "
                  "source: those that met the target (green) and all of them (grey); the dashed line is the "
                  "verification.",
                  "No full-length run on the highest-fidelity source has finished yet."),
    FigureSection("cost", "Cost by source", figures.cost_figure, png.cost_png,
                  "Lab (channel) hours and CPU hours the stored results cost, per source.",
                  "No results yet: nothing was spent."),
    FigureSection("timeline", "Decision timeline", figures.timeline_figure, png.timeline_png,
                  "Every run from its start to its result in simulated hours, one row per channel or worker "
                  "of each source; crosses mark tests stopped early. The decisions are listed below.",
                  "No run has finished yet."),
    FigureSection("predicted", "Predicted against observed", figures.predicted_figure, png.predicted_png,
                  "What the strategy predicted for the objective when it launched a run (mean and 90 % "
                  "interval) against what the run then showed; points on the dashed line were predicted "
                  "exactly.",
                  "No run that was launched with a prediction of the objective has observed it yet."),
    FigureSection("calibration", "Calibration", figures.calibration_figure, png.calibration_png,
                  "Share of observed values inside the predicted central intervals, against the intervals' "
                  "level; n is the number of forecasts. Points below the diagonal mean overconfidence.",
                  "No predicted interval can be checked against an observation yet."),
    FigureSection("latent", "Latent map", figures.latent_figure, png.latent_png,
                  "The campaign's designs encoded by the campaign's newest model (first ensemble member) and "
                  "projected on the two leading principal components; left: the objective observed on the "
                  "highest-fidelity source that ran the design, right: that source.",
                  "No latent map."),
)
