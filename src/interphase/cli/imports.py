"""``interphase import``: bring cycler files and Parquet exports into the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from interphase.cli.output import new_table, print_line, stderr_console, stdout_console
from interphase.cli.state import open_store
from interphase.schema import InvalidInputError
from interphase.store import Store
from interphase.store.io import IMPORT_FORMATS, ImportReport, import_files

ImportFormat = StrEnum("ImportFormat", {name: name for name in IMPORT_FORMATS})
AUTO = ImportFormat("auto")


def import_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Files to import.",
                                                show_default=False)],
    fmt: Annotated[ImportFormat, typer.Option(
        "--format", help="File format; auto guesses it from the extension and contents.")] = AUTO,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Campaign the records join.",
                                                 show_default=False)] = None,
) -> None:
    """Import cycler files (Arbin, Maccor, BioLogic) or Parquet exports, all or none."""
    for path in files:
        if not path.exists():
            raise InvalidInputError(str(path), "file not found")
    with open_store(ctx) as store:
        if campaign is not None:
            store.get_campaign(campaign)
        reports = import_with_progress(store, files, fmt.value, campaign)
    print_import_reports(reports, title="Imported")


def import_with_progress(store: Store, paths: Sequence[Path], fmt: str,
                         campaign: str | None) -> list[ImportReport]:
    """Import all files in one call (so a bad file stops them all) behind a spinner."""
    with _spinner(f"importing {len(paths)} file(s)"):
        return import_files(store, list(paths), fmt=fmt, campaign=campaign)


def print_import_reports(reports: Sequence[ImportReport], title: str) -> None:
    """Print one row per imported file and a one-line tally."""
    table = new_table(title, "file", "format", "cycles", "observations", "record id", "status",
                      numeric=("cycles", "observations"))
    for report in reports:
        table.add_row(Path(report.path).name, report.format, str(report.n_cycles),
                      str(report.n_observations), report.result_id,
                      "already present" if report.already_present else "new")
    stdout_console().print(table)
    new = sum(not r.already_present for r in reports)
    print_line(f"{new} new, {len(reports) - new} already present", style="green")


@contextmanager
def _spinner(description: str) -> Iterator[None]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        progress.add_task(description, total=None)
        yield
