"""``interphase report CAMPAIGN``: the campaign's HTML report and PNG figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interphase.cli.output import print_line
from interphase.cli.state import open_store

REPORTS_DIR = Path("reports")


def report_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign name.", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder of the report (default reports/<campaign>).")] = None,
) -> None:
    """Write the campaign's report (self-contained HTML with PNG copies) and print its path."""
    from interphase.report import build_report

    with open_store(ctx) as store:
        store.get_campaign(campaign)  # an unknown name is refused before any folder is made
        files = build_report(store, campaign, out or REPORTS_DIR / campaign)
    print_line(str(files.html))
