"""The campaign report: self-contained HTML (plotly) and PNG copies, from what the store holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote: the HTML page and its PNG copies."""

    html: Path
    pngs: tuple[Path, ...] = ()


def build_report(store: Any, campaign: str, out_dir: Path) -> ReportFiles:
    """Placeholder until the report lands."""
    raise NotImplementedError("the report is being written")
