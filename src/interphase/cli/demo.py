"""``interphase demo``: a store, two real cycler files and what they say, in seconds."""

from __future__ import annotations

import time
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

import typer

from interphase.cli.imports import import_with_progress
from interphase.cli.output import fmt_count, fmt_number, new_table, print_line, stdout_console
from interphase.cli.state import open_store
from interphase.cli.summary import summarise

EXAMPLE_FILES = ("arbin_example.csv", "maccor_example.001")
LEGEND = ("Q: discharge capacity of the first and last cycle; CE: coulombic efficiency; "
          "R: internal resistance as the cycler reports it; -: not recorded")


def demo_command(ctx: typer.Context) -> None:
    """Initialise the store, import the example cycler files and summarise them.

    Running it again adds nothing: imports are idempotent.
    """
    started = time.perf_counter()
    folder = files("interphase").joinpath("data/cyclers")
    with open_store(ctx, initialised=False, create=True) as store, ExitStack() as stack:
        revision = store.init()
        print_line(f"store: {store.display_url()} (schema {revision})")
        paths = [stack.enter_context(as_file(folder.joinpath(name))) for name in EXAMPLE_FILES]
        reports = import_with_progress(store, paths, "auto", None)
        results = [store.get_result(report.result_id) for report in reports]
    columns = ("first Q [A.h]", "last Q [A.h]", "mean CE", "mean R [Ohm]")
    table = new_table("Example cycler records", "file", "source", "cycles", *columns,
                      numeric=("cycles", *columns), unbroken=("file", "source"))
    table.caption = LEGEND
    table.caption_justify = "left"
    for report, stored in zip(reports, results, strict=True):
        summary = summarise(stored.result)
        table.add_row(
            Path(report.path).name, stored.result.source,
            fmt_count(summary.cycles),
            fmt_number(summary.first_discharge_capacity_ah),
            fmt_number(summary.last_discharge_capacity_ah),
            fmt_number(summary.mean_coulombic_efficiency),
            fmt_number(summary.mean_internal_resistance_ohm),
        )
    stdout_console().print(table)
    new = sum(not r.already_present for r in reports)
    print_line(f"{new} new, {len(reports) - new} already present; "
               "see them with 'interphase ls records'")
    print_line(f"demo finished in {time.perf_counter() - started:.1f} s")
