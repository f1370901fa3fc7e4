"""Figures of a model evaluation: reliability diagram, trajectories with bands, uncertainty against data.

Each function takes plain numbers (NumPy arrays, floats) and writes one PNG; none touches a
model or the store, so the numbers in ``metrics.json`` and the figures cannot disagree.
matplotlib (the ``dev`` extra) is imported inside the functions and draws on an Agg canvas of
its own: importing this module costs nothing, and no display or global backend is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DPI = 110


@dataclass(frozen=True)
class TrajectoryPanel:
    """One observable of one record: what was observed and what the model predicted.

    Attributes:
        title: Names the record, e.g. ``"lab-cell, record 1a2b3c4d"``.
        observable: Observable name with its unit, e.g. ``"Capacity retention"``.
        cycles: ``T`` cycle numbers (1-based).
        observed: ``T`` observed values; NaN where nothing was observed.
        mean: ``T`` predicted means.
        band_50: Lower and upper ends of the central 50 % interval, each ``T``.
        band_90: Lower and upper ends of the central 90 % interval, each ``T``.
    """

    title: str
    observable: str
    cycles: np.ndarray
    observed: np.ndarray
    mean: np.ndarray
    band_50: tuple[np.ndarray, np.ndarray]
    band_90: tuple[np.ndarray, np.ndarray]


def _figure(width_in: float, height_in: float) -> Any:
    """A matplotlib figure on its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def reliability_diagram(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path) -> Path:
    """Observed against nominal quantile coverage, one line per source, with the diagonal.

    Args:
        curves: Source → ``(levels, observed)``: nominal levels in (0, 1) and the fraction
            of held-out observations at or below the predicted quantile of each level
            (NaN entries are skipped).
        path: The PNG to write.

    Returns:
        ``path``.
    """
    figure = _figure(5.0, 5.0)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="calibrated")
    for source, (levels, observed) in curves.items():
        x, y = np.asarray(levels, dtype=float), np.asarray(observed, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        axes.plot(x[keep], y[keep], marker="o", markersize=3, label=source)
    axes.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="nominal quantile level",
             ylabel="observed frequency at or below the quantile",
             title="Reliability on held-out records")
    axes.legend(loc="upper left", fontsize="small")
    return _save(figure, path)


def trajectory_figure(rows: Sequence[Sequence[TrajectoryPanel]], path: Path) -> Path:
    """A grid of held-out records (rows) by observables (columns): points, mean, 50 % and 90 % bands.

    Args:
        rows: One sequence of panels per record, all of the same length (one per observable).
        path: The PNG to write.

    Returns:
        ``path``.
    """
    n_rows = max(1, len(rows))
    n_cols = max(1, max((len(row) for row in rows), default=1))
    figure = _figure(4.2 * n_cols, 2.6 * n_rows)
    grid = figure.subplots(n_rows, n_cols, squeeze=False)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            axes = grid[r][c]
            axes.fill_between(panel.cycles, *panel.band_90, color="tab:blue", alpha=0.15, linewidth=0,
                              label="90 %")
            axes.fill_between(panel.cycles, *panel.band_50, color="tab:blue", alpha=0.3, linewidth=0,
                              label="50 %")
            axes.plot(panel.cycles, panel.mean, color="tab:blue", linewidth=1.2, label="predicted mean")
            seen = np.isfinite(panel.observed)
            axes.plot(panel.cycles[seen], panel.observed[seen], "o", color="black", markersize=2.5,
                      label="observed")
            axes.set_title(panel.title, fontsize="small")
            axes.set_xlabel("cycle", fontsize="small")
            axes.set_ylabel(panel.observable, fontsize="small")
            axes.tick_params(labelsize="x-small")
    if rows and rows[0]:
        grid[0][0].legend(fontsize="x-small", loc="best")
    else:
        grid[0][0].text(0.5, 0.5, "no held-out record with observations", ha="center", va="center")
        grid[0][0].set_axis_off()
    return _save(figure, path)


def uncertainty_vs_data(fractions: Sequence[float], epistemic_std: Sequence[float],
                        rmse: Sequence[float], path: Path, *, observable: str,
                        n_designs: Sequence[int] | None = None) -> Path:
    """Mean epistemic std and RMSE on the holdout against the share of training designs used.

    Args:
        fractions: Shares of the training designs, in (0, 1].
        epistemic_std: Mean epistemic std of ``observable`` on the holdout, per fraction.
        rmse: RMSE of ``observable`` on the holdout, per fraction (NaN where unknown).
        path: The PNG to write.
        observable: The observable both curves describe (with its unit).
        n_designs: Training designs behind each fraction, written on the x axis if given.

    Returns:
        ``path``.
    """
    figure = _figure(8.5, 3.6)
    left, right = figure.subplots(1, 2)
    x = np.asarray(fractions, dtype=float)
    for axes, values, label in ((left, epistemic_std, "mean epistemic std"), (right, rmse, "RMSE")):
        axes.plot(x, np.asarray(values, dtype=float), marker="o")
        axes.set(xlabel="fraction of training designs", ylabel=f"{label}, {observable}",
                 title=f"{label} on held-out records")
        axes.set_ylim(bottom=0)
        if n_designs is not None:
            axes.set_xticks(x, [f"{f:g}\n({n})" for f, n in zip(x, n_designs, strict=True)])
    return _save(figure, path)
