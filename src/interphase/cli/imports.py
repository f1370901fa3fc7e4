"""``interphase import``: bring cycler files and Parquet exports into the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from interphase.cli.output import new_table, print_line, stderr_console, stdout_console
from interphase.cli.state import open_store
from interphase.schema import InvalidInputError
from interphase.store import Store
from interphase.store.io import IMPORT_FORMATS, ImportReport, import_files
from interphase.store.io.column_map import CURRENT_SIGNS, ColumnMap, build_column_map

ImportFormat = StrEnum("ImportFormat", {name: name for name in IMPORT_FORMATS})
CurrentSign = StrEnum("CurrentSign", {name: name for name in CURRENT_SIGNS})
AUTO = ImportFormat("auto")
MAP_HELP = ("Column of a --format csv file, as KEY=COLUMN or KEY=COLUMN[UNIT] (repeat it); "
            "keys: time, current, voltage, cycle (required), step, temperature, "
            "internal_resistance, charge_capacity, discharge_capacity, charge_energy, "
            "discharge_energy. See docs/import.md.")


def import_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Files to import.",
                                                show_default=False)],
    fmt: Annotated[ImportFormat, typer.Option(
        "--format", help="File format; auto guesses arbin, maccor or biologic from the "
        "extension and contents (never csv, which needs a column map).")] = AUTO,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Campaign the records join.",
                                                 show_default=False)] = None,
    column_entries: Annotated[list[str] | None, typer.Option(
        "--map", metavar="KEY=COLUMN[UNIT]", help=MAP_HELP, show_default=False)] = None,
    map_file: Annotated[Path | None, typer.Option(
        "--map-file", metavar="YAML", show_default=False,
        help="YAML column map for --format csv: 'columns:' (KEY: COLUMN[UNIT]) and "
        "optionally 'current_sign:'; --map entries override it.")] = None,
    current_sign: Annotated[CurrentSign | None, typer.Option(
        "--current-sign", show_default=False,
        help="Sign of charging current in a --format csv file; without it, the map file's "
        "current_sign, else charge-positive.")] = None,
    nominal_capacity_ah: Annotated[float | None, typer.Option(
        "--nominal-capacity", metavar="A.h", show_default=False,
        help="Nominal cell capacity in A.h: cycles above it (by more than 10 %) are flagged. "
        "Without it only jumps against neighbouring cycles are flagged.")] = None,
) -> None:
    """Import cycler files (Arbin, Maccor, BioLogic, mapped CSV) or Parquet exports, all or none.

    Reader warnings and flagged cycles are printed on stderr after the table and stored
    with each record.
    """
    column_map = _column_map(column_entries or [], map_file,
                             None if current_sign is None else current_sign.value)
    if nominal_capacity_ah is not None and not (0 < nominal_capacity_ah < float("inf")):
        raise InvalidInputError("--nominal-capacity", f"{nominal_capacity_ah} is not allowed; "
                                                      "expected a positive number of A.h")
    for path in files:
        if not path.exists():
            raise InvalidInputError(str(path), "file not found")
    with open_store(ctx) as store:
        if campaign is not None:
            store.get_campaign(campaign)
        reports = import_with_progress(store, files, fmt.value, campaign, column_map=column_map,
                                       nominal_capacity_ah=nominal_capacity_ah)
    print_import_reports(reports, title="Imported")
    print_import_notes(reports)


def import_with_progress(store: Store, paths: Sequence[Path], fmt: str, campaign: str | None,
                         *, column_map: ColumnMap | None = None,
                         nominal_capacity_ah: float | None = None) -> list[ImportReport]:
    """Import all files in one call (so a bad file stops them all) behind a spinner."""
    with _spinner(f"importing {len(paths)} file(s)"):
        return import_files(store, list(paths), fmt=fmt, campaign=campaign,
                            column_map=column_map, nominal_capacity_ah=nominal_capacity_ah)


def print_import_reports(reports: Sequence[ImportReport], title: str) -> None:
    """Print one row per imported file and a one-line tally."""
    table = new_table(title, "file", "format", "cycles", "observations", "flags", "record id",
                      "status", numeric=("cycles", "observations", "flags"))
    for report in reports:
        table.add_row(Path(report.path).name, report.format, str(report.n_cycles),
                      str(report.n_observations), str(len(report.flags)), report.result_id,
                      "already present" if report.already_present else "new")
    stdout_console().print(table)
    new = sum(not r.already_present for r in reports)
    print_line(f"{new} new, {len(reports) - new} already present", style="green")


def print_import_notes(reports: Sequence[ImportReport]) -> None:
    """Print every reader warning and every flagged cycle, one line each, on stderr."""
    console = stderr_console()
    for report in reports:
        name = Path(report.path).name
        for message in report.warnings:
            console.print(Text(f"warning: {name}: {message}", style="yellow"), soft_wrap=True)
        for flag in report.flags:
            line = (f"flag: {name}: cycle {flag.cycle} (file cycle {flag.file_cycle}) "
                    f"{flag.observable} = {flag.value:.4g}: {flag.reason}")
            console.print(Text(line, style="yellow"), soft_wrap=True)


def _column_map(entries: list[str], map_file: Path | None,
                current_sign: str | None) -> ColumnMap | None:
    if not entries and map_file is None:
        if current_sign is not None:
            raise InvalidInputError("--current-sign", "applies to --format csv with a column "
                                                      "map (--map or --map-file) only")
        return None
    return build_column_map(entries, map_file, current_sign)


@contextmanager
def _spinner(description: str) -> Iterator[None]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        progress.add_task(description, total=None)
        yield
