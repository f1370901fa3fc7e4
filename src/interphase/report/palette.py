"""One colour per source, shared by the plotly figures and their PNG copies."""

from __future__ import annotations

from collections.abc import Iterable

# matplotlib's tab10, as hex, so both renderings agree
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
UNTESTED_COLOUR = "#c7c7c7"


def source_colours(sources: Iterable[str]) -> dict[str, str]:
    """Source name -> hex colour, assigned in name order (``"untested"`` is grey)."""
    names = sorted(set(sources))
    tested = [n for n in names if n != "untested"]
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(tested)}
    if "untested" in names:
        colours["untested"] = UNTESTED_COLOUR
    return colours
