"""The campaign report: self-contained HTML (plotly) and PNG copies, from what the store holds.

``build_report(store, campaign, out_dir)`` writes ``out_dir/report.html`` (plotly.js inlined,
nothing fetched from the network) and one PNG per figure that has something to show:
the discovery curve, cost by source, the decision timeline, predicted against observed values,
the calibration of the predicted intervals and the latent map. The report reads the store and
computes no new science; the latent map alone runs the campaign's newest model to encode its
designs. plotly and matplotlib are imported when a report is built, not with this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interphase.store import Store

HTML_NAME = "report.html"


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote: the HTML page and its PNG copies."""

    html: Path
    pngs: tuple[Path, ...] = ()


def build_report(store: Store, campaign: str, out_dir: Path) -> ReportFiles:
    """Write a campaign's report: one HTML page and PNG copies of its figures.

    Args:
        store: An initialised store.
        campaign: Campaign name.
        out_dir: Folder to write into (created if missing); files of an earlier report there
            are replaced, and PNGs of figures that have nothing to show are removed.

    Returns:
        The paths written.

    Raises:
        NotFoundError: If there is no such campaign; the message lists the known names.
    """
    from interphase.report.content import report_content
    from interphase.report.header import build_header
    from interphase.report.html import page_html
    from interphase.report.sections import SECTIONS

    content = report_content(store, campaign)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = []
    for section in SECTIONS:
        path = out_dir / f"{section.key}.png"
        if section.png(content, path):
            pngs.append(path)
        else:
            path.unlink(missing_ok=True)  # a stale copy from an earlier report would contradict the page
    html = out_dir / HTML_NAME
    html.write_text(page_html(content, build_header(content), [p.name for p in pngs]), encoding="utf-8")
    return ReportFiles(html=html, pngs=tuple(pngs))
