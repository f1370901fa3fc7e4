"""PNG copies of the report's figures (matplotlib on its own Agg canvas; no pyplot state).

Each function draws the same numbers as its plotly twin in :mod:`interphase.report.figures`
and returns False, writing nothing, when there is nothing to draw yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interphase.report.content import ReportContent

DPI = 110
SHORT_RUN_SHARE = 0.005  # runs shorter than this share of the timeline get a tick as well as a bar


def _figure(width_in: float, height_in: float, n_axes: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, n_axes, squeeze=False)[0]
    return figure, list(axes)


def _save(figure: Any, path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return True


def discovery_png(content: ReportContent, path: Path) -> bool:
    """The discovery curve."""
    curve = content.discovery
    if not curve.all_runs.hours:
        return False
    figure, (axes,) = _figure(7.0, 4.0)
    axes.step(curve.all_runs.hours, curve.all_runs.best, where="post", color="0.5", linestyle=":",
              label="best of all full-length runs")
    axes.step(curve.met.hours, curve.met.best, where="post", color="tab:green", linewidth=2.5,
              label="best run that met the target")
    axes.plot(curve.all_runs.hours, curve.all_runs.values, "o", color="tab:blue", alpha=0.6, markersize=4,
              label="each run")
    if curve.verified_h is not None:
        axes.axvline(curve.verified_h, color="tab:red", linestyle="--",
                     label=f"verified ({curve.verified_h:.0f} h)")
    axes.set(xlabel="simulated hours", ylabel=content.objective_label, title="Discovery curve")
    axes.legend(fontsize="small")
    return _save(figure, path)


def cost_png(content: ReportContent, path: Path) -> bool:
    """Lab and CPU hours per source."""
    if not content.costs:
        return False
    figure, (lab, cpu) = _figure(8.0, 3.6, 2)
    names = [c.source for c in content.costs]
    colours = [content.colours.get(n, "#7f7f7f") for n in names]
    lab.bar_label(lab.bar(names, [c.lab_hours for c in content.costs], color=colours), fmt="%.3g")
    cpu.bar_label(cpu.bar(names, [c.cpu_hours for c in content.costs], color=colours), fmt="%.3g")
    lab.set(ylabel="lab hours", title="Lab hours by source")
    cpu.set(ylabel="CPU hours", title="CPU hours by source")
    for axes in (lab, cpu):
        axes.tick_params(axis="x", labelrotation=20, labelsize="small")
    return _save(figure, path)


def timeline_png(content: ReportContent, path: Path) -> bool:
    """The Gantt chart of runs, with stop decisions."""
    if not content.bars:
        return False
    lanes = sorted({(b.source, b.lane) for b in content.bars})
    row = {lane: i for i, lane in enumerate(lanes)}
    figure, (axes,) = _figure(8.0, max(2.5, 0.8 + 0.3 * len(lanes)))
    span_h = max(b.finished_h for b in content.bars) - min(b.started_h for b in content.bars)
    for bar in content.bars:
        y = row[(bar.source, bar.lane)]
        axes.barh(y, bar.finished_h - bar.started_h, left=bar.started_h, height=0.7,
                  color=content.colours.get(bar.source), edgecolor="white", linewidth=0.5,
                  alpha=1.0 if bar.status == "succeeded" else 0.45)
        if bar.finished_h - bar.started_h < SHORT_RUN_SHARE * span_h:  # too short to see as a bar
            axes.plot(bar.started_h, y, "|", color=content.colours.get(bar.source), markersize=10)
    for stop in content.stops:
        axes.plot(stop.clock_h, row.get((stop.source, stop.lane), 0), "x", color="black", markersize=8)
    axes.set_yticks(range(len(lanes)), [f"{source} #{lane + 1}" for source, lane in lanes], fontsize="small")
    axes.invert_yaxis()
    axes.set(xlabel="simulated hours", title="Runs over time (pale: failed or stopped; x: stopped early)")
    return _save(figure, path)


def predicted_png(content: ReportContent, path: Path) -> bool:
    """Predicted against observed objective values with 90 % intervals and the 1:1 line."""
    if not content.pairs:
        return False
    figure, (axes,) = _figure(5.0, 5.0)
    for source in sorted({p.source for p in content.pairs}):
        mine = [p for p in content.pairs if p.source == source]
        low = [p.mean - (p.interval(0.9) or (p.mean, p.mean))[0] for p in mine]
        high = [(p.interval(0.9) or (p.mean, p.mean))[1] - p.mean for p in mine]
        axes.errorbar([p.observed for p in mine], [p.mean for p in mine], yerr=[low, high], fmt="o",
                      color=content.colours.get(source), capsize=3, label=source)
    values = [v for p in content.pairs for v in (p.observed, p.mean, *(p.interval(0.9) or ()))]
    axes.plot([min(values), max(values)], [min(values), max(values)], "--", color="0.5", label="1:1")
    axes.set(xlabel=f"observed {content.objective_label}", ylabel="predicted (mean, 90 % interval)",
             title="Predicted against observed")
    axes.legend(fontsize="small")
    return _save(figure, path)


def calibration_png(content: ReportContent, path: Path) -> bool:
    """The reliability plot of the predicted intervals."""
    if not content.coverage:
        return False
    figure, (axes,) = _figure(4.5, 4.5)
    axes.plot([0, 1], [0, 1], "--", color="0.5", label="calibrated")
    levels, observed = [p.level for p in content.coverage], [p.observed for p in content.coverage]
    axes.plot(levels, observed, "o-", color="tab:blue", label="observed coverage")
    for point in content.coverage:
        axes.annotate(f"n={point.n}", (point.level, point.observed), textcoords="offset points",
                      xytext=(-30, 6))
    axes.set(xlim=(0, 1.02), ylim=(0, 1.05), xlabel="expected coverage (interval level)",
             ylabel="observed coverage", title="Calibration")
    axes.legend(fontsize="small", loc="upper left")
    return _save(figure, path)


def latent_png(content: ReportContent, path: Path) -> bool:
    """The latent map, coloured by the objective and by source."""
    latent = content.latent
    if latent is None:
        return False
    figure, (by_value, by_source) = _figure(9.0, 4.0, 2)
    seen = [i for i, v in enumerate(latent.objective) if v is not None]
    unseen = [i for i, v in enumerate(latent.objective) if v is None]
    by_value.scatter(latent.xy[unseen, 0], latent.xy[unseen, 1], color="#c7c7c7", s=14, label="not observed")
    if seen:
        points = by_value.scatter(latent.xy[seen, 0], latent.xy[seen, 1],
                                  c=[latent.objective[i] for i in seen], cmap="viridis", s=22)
        figure.colorbar(points, ax=by_value, label=content.objective_label)
    for source in sorted(set(latent.source)):
        rows = [i for i, s in enumerate(latent.source) if s == source]
        by_source.scatter(latent.xy[rows, 0], latent.xy[rows, 1], color=content.colours.get(source), s=18,
                          label=source)
    by_source.legend(fontsize="small")
    for axes, title in ((by_value, "by objective"), (by_source, "by source")):
        axes.set(xlabel=f"PC1 ({latent.explained[0]:.0%})", ylabel=f"PC2 ({latent.explained[1]:.0%})",
                 title=f"Latent map, {title}")
    return _save(figure, path)
