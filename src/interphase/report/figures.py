"""The report's interactive figures (plotly); each returns None when there is nothing to draw yet."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interphase.report.content import ReportContent

LAYOUT = {"template": "plotly_white", "height": 420, "margin": {"l": 70, "r": 30, "t": 50, "b": 60},
          "legend": {"orientation": "h", "y": -0.2}}
SHORT_RUN_SHARE = 0.005  # runs shorter than this share of the timeline get a tick as well as a bar


def discovery_figure(content: ReportContent) -> go.Figure | None:
    """Best objective against simulated hours (met the target; all full-length runs), verification marked."""
    curve = content.discovery
    if not curve.all_runs.hours:
        return None
    figure = go.Figure()
    figure.add_scatter(x=curve.all_runs.hours, y=curve.all_runs.best, mode="lines", line_shape="hv",
                       name="best of all full-length runs", line={"color": "#7f7f7f", "dash": "dot"})
    figure.add_scatter(x=curve.met.hours, y=curve.met.best, mode="lines+markers", line_shape="hv",
                       name="best run that met the target", line={"color": "#2ca02c", "width": 3})
    figure.add_scatter(x=curve.all_runs.hours, y=curve.all_runs.values, mode="markers", name="each run",
                       marker={"color": "#1f77b4", "size": 6, "opacity": 0.6})
    if curve.verified_h is not None:
        figure.add_vline(x=curve.verified_h, line={"color": "#d62728", "dash": "dash"},
                         annotation_text=f"verified at {curve.verified_h:.0f} h")
    figure.update_layout(**LAYOUT, xaxis_title="simulated hours", yaxis_title=content.objective_label)
    return figure


def cost_figure(content: ReportContent) -> go.Figure | None:
    """Lab hours and CPU hours spent per source, side by side."""
    if not content.costs:
        return None
    names = [c.source for c in content.costs]
    colours = [content.colours.get(n, "#7f7f7f") for n in names]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("lab hours", "CPU hours"))
    for col, values in ((1, [c.lab_hours for c in content.costs]), (2, [c.cpu_hours for c in content.costs])):
        figure.add_bar(x=names, y=values, marker_color=colours, showlegend=False, row=1, col=col,
                       text=[f"{v:.3g}" for v in values], textposition="outside")
    figure.update_layout(**LAYOUT)
    return figure


def _lane(source: str, lane: int) -> str:
    return f"{source} #{lane + 1}"


def timeline_figure(content: ReportContent) -> go.Figure | None:
    """A Gantt chart: one row per lane of each source, a bar per run, a cross per stop decision."""
    if not content.bars:
        return None
    figure = go.Figure()
    span_h = max(b.finished_h for b in content.bars) - min(b.started_h for b in content.bars)
    for source in sorted({b.source for b in content.bars}):
        bars = [b for b in content.bars if b.source == source]
        lanes = [_lane(b.source, b.lane) for b in bars]
        figure.add_bar(y=lanes, x=[b.finished_h - b.started_h for b in bars],
                       base=[b.started_h for b in bars], orientation="h", name=source,
                       customdata=[b.status for b in bars],
                       marker={"color": content.colours.get(source),
                               "opacity": [1.0 if b.status == "succeeded" else 0.45 for b in bars]},
                       hovertemplate="%{y}: from %{base:.4g} h for %{x:.3g} h (%{customdata})<extra></extra>")
        short = [b for b in bars if b.finished_h - b.started_h < SHORT_RUN_SHARE * span_h]
        if short:  # too short to see as bars
            figure.add_scatter(x=[b.started_h for b in short], y=[_lane(b.source, b.lane) for b in short],
                               mode="markers", showlegend=False, hoverinfo="skip",
                               marker={"symbol": "line-ns-open", "size": 12,
                                       "color": content.colours.get(source)})
    if content.stops:
        stops = content.stops
        figure.add_scatter(x=[s.clock_h for s in stops], y=[_lane(s.source, s.lane) for s in stops],
                           mode="markers", name="stopped early",
                           marker={"symbol": "x", "size": 12, "color": "black"})
    lanes = len({(b.source, b.lane) for b in content.bars})
    figure.update_layout(**{**LAYOUT, "height": max(300, 60 + 28 * lanes)}, barmode="overlay",
                         xaxis_title="simulated hours", yaxis={"autorange": "reversed"})
    return figure


def predicted_figure(content: ReportContent) -> go.Figure | None:
    """Predicted mean (with its 90 % interval) against observed objective values, and the 1:1 line."""
    pairs = content.pairs
    if not pairs:
        return None
    figure = go.Figure()
    for source in sorted({p.source for p in pairs}):
        mine = [p for p in pairs if p.source == source]
        intervals = list(zip(mine, [p.interval(0.9) for p in mine], strict=True))
        figure.add_scatter(
            x=[p.observed for p in mine], y=[p.mean for p in mine], mode="markers", name=source,
            marker={"color": content.colours.get(source), "size": 8},
            error_y={"type": "data", "symmetric": False,
                     "array": [(i[1] - p.mean) if i else 0.0 for p, i in intervals],
                     "arrayminus": [(p.mean - i[0]) if i else 0.0 for p, i in intervals]})
    values = [v for p in pairs for v in (p.observed, p.mean, *(p.interval(0.9) or ()))]
    low, high = min(values), max(values)
    figure.add_scatter(x=[low, high], y=[low, high], mode="lines", name="1:1",
                       line={"color": "#7f7f7f", "dash": "dash"})
    figure.update_layout(**LAYOUT, xaxis_title=f"observed {content.objective_label}",
                         yaxis_title="predicted (mean, 90 % interval)")
    return figure


def calibration_figure(content: ReportContent) -> go.Figure | None:
    """Observed against expected coverage of the predicted central intervals, with the count n."""
    points = content.coverage
    if not points:
        return None
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated",
                       line={"color": "#7f7f7f", "dash": "dash"})
    figure.add_scatter(x=[p.level for p in points], y=[p.observed for p in points], mode="markers+lines+text",
                       name="observed coverage", text=[f"n={p.n}" for p in points], textposition="top left",
                       marker={"size": 10, "color": "#1f77b4"})
    figure.update_layout(**LAYOUT, xaxis={"title": "expected coverage (interval level)", "range": [0, 1.02]},
                         yaxis={"title": "observed coverage", "range": [0, 1.05]})
    return figure


def latent_figure(content: ReportContent) -> go.Figure | None:
    """The designs' codes on two principal components, coloured by the objective and by source."""
    latent = content.latent
    if latent is None:
        return None
    pc = [f"PC{i + 1} ({share:.0%})" for i, share in enumerate(latent.explained)]
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"coloured by {content.objective_label}",
                                                           "coloured by source"))
    seen = [i for i, v in enumerate(latent.objective) if v is not None]
    unseen = [i for i, v in enumerate(latent.objective) if v is None]
    figure.add_scatter(x=latent.xy[unseen, 0], y=latent.xy[unseen, 1], mode="markers", name="not observed",
                       marker={"color": "#c7c7c7", "size": 7}, row=1, col=1)
    figure.add_scatter(x=latent.xy[seen, 0], y=latent.xy[seen, 1], mode="markers", showlegend=False,
                       marker={"color": [latent.objective[i] for i in seen], "colorscale": "Viridis",
                               "size": 9, "colorbar": {"x": 0.44, "len": 0.8}}, row=1, col=1)
    for source in sorted(set(latent.source)):
        rows = [i for i, s in enumerate(latent.source) if s == source]
        figure.add_scatter(x=latent.xy[rows, 0], y=latent.xy[rows, 1], mode="markers", name=source,
                           marker={"color": content.colours.get(source), "size": 8}, row=1, col=2)
    for col in (1, 2):
        figure.update_xaxes(title_text=pc[0], row=1, col=col)
        figure.update_yaxes(title_text=pc[1], row=1, col=col)
    figure.update_layout(**LAYOUT)
    return figure
