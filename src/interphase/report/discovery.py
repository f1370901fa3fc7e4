"""The discovery benchmark's figure: best objective against simulated hours, share of seeds verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def discovery_figure(rows: list[dict[str, Any]], path: Path, world: str) -> Path:
    """Best objective against simulated hours, and the share of seeds verified, per strategy.

    The left panel is the best objective of full-length highest-fidelity runs (median and IQR
    over seeds); the right one the share of seeds with a verified design by then.

    Args:
        rows: The benchmark's per-campaign figures (``strategy``, ``curve``, ``verified``,
            ``discovery_h``, ``end_h``).
        path: The PNG to write.
        world: The world's name, for the title.

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    by: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault(row["strategy"], []).append(row)
    end = max([r["end_h"] for r in rows] + [1.0])
    grid = np.linspace(0.0, end, 400)
    for strategy, runs in sorted(by.items()):
        curves = []
        for run in runs:
            values = np.full(grid.shape, np.nan)
            for hour, best in run["curve"]:
                values[grid >= hour] = best
            curves.append(values)
        stack = np.array(curves)
        with np.errstate(all="ignore"):
            counts = np.isfinite(stack).sum(axis=0)
            filled = np.where(np.isfinite(stack), stack, -np.inf)  # before a first result: nothing yet
            median = np.where(counts * 2 > len(runs), np.quantile(filled, 0.5, axis=0), np.nan)
            low = np.where(counts * 4 > len(runs), np.quantile(filled, 0.25, axis=0), np.nan)
            high = np.where(counts * 4 > 3 * len(runs), np.quantile(filled, 0.75, axis=0), np.nan)
        (line,) = left.plot(grid, median, label=strategy)
        left.fill_between(grid, np.where(np.isfinite(low), low, np.nan), high, color=line.get_color(),
                          alpha=0.2)
        times = sorted(r["discovery_h"] for r in runs if r["verified"])
        share = [sum(1 for t in times if t <= h) / len(runs) for h in grid]
        right.plot(grid, share, color=line.get_color(), label=strategy)
    left.set_xlabel("simulated hours")
    left.set_ylabel("best objective, full-length top-fidelity runs")
    left.set_title(f"{world}: best so far (median, IQR over seeds)")
    left.legend(fontsize=8)
    right.set_xlabel("simulated hours")
    right.set_ylabel("share of seeds with a verified design")
    right.set_title("discovery")
    right.set_ylim(0, 1.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
