"""``interphase report CAMPAIGN``: the campaign's HTML report and PNG figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interphase.schema import InvalidInputError


def report_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign name.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Folder of the report.")] = None,
) -> None:
    """Write the campaign's report (self-contained HTML with PNG copies) and print its path."""
    raise InvalidInputError("report", "not available yet")
