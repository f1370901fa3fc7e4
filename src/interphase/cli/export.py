"""``interphase export``: write the store as Parquet, JSON-LD or CSV."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from interphase.cli.output import new_table, stdout_console
from interphase.cli.state import open_store
from interphase.store.io import EXPORT_FORMATS, export_csv, export_jsonld, export_parquet

ExportFormat = StrEnum("ExportFormat", {name: name for name in EXPORT_FORMATS})

_DEFAULT_OUT = {"parquet": "{stem}", "jsonld": "{stem}.jsonld", "csv": "{stem}.csv"}


def export_command(
    ctx: typer.Context,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.",
                                              show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output file (a directory for parquet); default interphase-export[.ext] "
        "or <campaign>-export[.ext].", show_default=False)] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's records.",
                                                 show_default=False)] = None,
) -> None:
    """Export records and their observations."""
    target = out or Path(_DEFAULT_OUT[fmt.value].format(stem=f"{campaign or 'interphase'}-export"))
    with open_store(ctx) as store:
        if campaign is not None:
            store.get_campaign(campaign)
        if fmt.value == "parquet":
            written = export_parquet(store, target, campaign=campaign)
        elif fmt.value == "jsonld":
            written = [export_jsonld(store, target, campaign=campaign)]
        else:
            written = [export_csv(store, target, campaign=campaign)]
    table = new_table(f"Exported ({fmt.value})", "path", "bytes", numeric=("bytes",))
    for path in written:
        table.add_row(str(path), str(Path(path).stat().st_size))
    stdout_console().print(table)
