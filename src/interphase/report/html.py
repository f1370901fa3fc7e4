"""The report page: one self-contained HTML file (plotly.js inlined once) with every section.

Every piece of text from the store is escaped; the page loads nothing from the network.
"""

from __future__ import annotations

from html import escape

import plotly.io as pio
from plotly.offline import get_plotlyjs

from interphase.report.content import ReportContent
from interphase.report.decisions import display_unit, display_value, short_name
from interphase.report.header import Header
from interphase.report.sections import SECTIONS

CANDIDATES_TITLE = "Final candidates"
DECISIONS_TITLE = "Decisions"
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1180px;
padding:0 24px 48px;color:#222}
header{border-bottom:1px solid #ddd;margin-bottom:8px}
h1{margin:24px 0 4px}.headline{font-size:1.25em;margin:4px 0 12px}.verified{color:#2ca02c}
.unverified{color:#b35900}dl.facts{display:grid;grid-template-columns:repeat(4,auto);gap:4px 16px;
font-size:.92em}dt{color:#666}dd{margin:0}section{margin-top:28px}.caption{color:#555;font-size:.92em}
.empty{color:#888;font-style:italic;padding:12px;border:1px dashed #ccc}table{border-collapse:collapse;
font-size:.88em;width:100%}th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.notes{color:#b35900}nav a{margin-right:12px}
"""


def _figure_html(content: ReportContent, key: str) -> str:
    section = next(s for s in SECTIONS if s.key == key)
    figure = section.plotly(content)
    if figure is None:
        note = content.latent_note if key == "latent" and content.latent_note else section.empty
        return f'<p class="empty">{escape(note)}</p>'
    body = pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=f"figure-{key}",
                       config={"displaylogo": False, "responsive": True})
    return f'{body}<p class="caption">{escape(section.caption)}</p>'


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def candidates_html(content: ReportContent) -> str:
    """The final candidates as a table: design values in declared units, observed, predicted, verified."""
    if not content.candidates:
        return '<p class="empty">No candidate yet: no full-length run on the highest-fidelity source.</p>'
    space = content.data.spec.design_space
    heads = ["design"]
    for name in space.names:
        unit = display_unit(space, name)
        heads.append(short_name(name) + (f" [{unit}]" if unit else ""))
    heads += [f"observed {content.objective_label}", "predicted (mean, 90 % interval)", "verified"]
    rows = []
    for c in content.candidates:
        cells = [c.design_id[:8]]
        cells += [display_value(space, n, c.design[n]) if n in c.design else "-" for n in space.names]
        p = c.predicted
        interval = f" [{_number(p.get('q05'))}, {_number(p.get('q95'))}]" if "q05" in p and "q95" in p else ""
        cells += [_number(c.observed), _number(p.get("mean")) + interval if "mean" in p else "-",
                  "yes" if c.verified else "no"]
        rows.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>")
    return _table(heads, rows)


def decisions_html(content: ReportContent) -> str:
    """The decision table: time, kind, source, designs (the first shown, the rest folded), reason."""
    if not content.decisions:
        return '<p class="empty">No decision has been made yet.</p>'
    rows = []
    for row in content.decisions:
        designs = escape(row.designs[0]) if row.designs else ""
        if len(row.designs) > 1:
            rest = "".join(f"<div>{escape(d)}</div>" for d in row.designs[1:])
            designs += f"<details><summary>{len(row.designs) - 1} more</summary>{rest}</details>"
        clock = "-" if row.clock_h is None else f"{row.clock_h:.1f}"
        rows.append(f"<tr><td>{clock}</td><td>{escape(row.kind)}</td><td>{escape(row.sources)}</td>"
                    f"<td>{designs}</td><td>{escape(row.reason)}</td></tr>")
    return _table(["simulated hour", "kind", "source", "design", "reason"], rows)


def _table(heads: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _header_html(content: ReportContent, header: Header) -> str:
    data = content.data
    css = "verified" if header.verified else "unverified"
    facts = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in header.facts)
    notes = "".join(f'<p class="notes">{escape(n)}</p>' for n in data.notes)
    description = f"<p>{escape(data.spec.description)}</p>" if data.spec.description else ""
    return (f"<header><h1>Campaign {escape(data.campaign)}</h1>"
            f'<p class="headline {css}">{escape(header.headline)}</p>{description}'
            f'<dl class="facts">{facts}</dl>{notes}</header>')


def page_html(content: ReportContent, header: Header, png_names: list[str]) -> str:
    """The whole page: header, the figures, the final candidates, the decisions, the PNG copies."""
    titles = [(s.key, s.title) for s in SECTIONS] + [("candidates", CANDIDATES_TITLE),
                                                      ("decisions", DECISIONS_TITLE)]
    nav = "<nav>" + "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t in titles) + "</nav>"
    parts = [_header_html(content, header), nav]
    for section in SECTIONS:
        parts.append(f'<section id="{section.key}"><h2>{escape(section.title)}</h2>'
                     f"{_figure_html(content, section.key)}</section>")
    parts.append(f'<section id="candidates"><h2>{CANDIDATES_TITLE}</h2>{candidates_html(content)}</section>')
    parts.append(f'<section id="decisions"><h2>{DECISIONS_TITLE}</h2>{decisions_html(content)}</section>')
    if png_names:
        links = " ".join(f'<a href="{escape(n)}">{escape(n)}</a>' for n in png_names)
        parts.append(f'<section id="png"><h2>PNG copies</h2><p class="caption">{links}</p></section>')
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>interphase report: {escape(content.data.campaign)}</title><style>{STYLE}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
            f"<body>{''.join(parts)}</body></html>\n")
