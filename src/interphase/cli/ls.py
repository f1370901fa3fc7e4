"""``interphase ls``: list what the store holds as tables."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from interphase.cli.output import (
    MISSING,
    fmt_count,
    fmt_number,
    fmt_values,
    new_table,
    print_line,
    stdout_console,
)
from interphase.cli.state import open_store
from interphase.cli.summary import summarise
from interphase.schema import InvalidInputError
from interphase.store import Store


class Listing(StrEnum):
    """What ``interphase ls`` can list."""

    DESIGNS = "designs"
    RECORDS = "records"
    SOURCES = "sources"
    CAMPAIGNS = "campaigns"


def ls_command(
    ctx: typer.Context,
    what: Annotated[Listing, typer.Argument(
        metavar="WHAT", help="What to list.", show_default=False)],
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's rows.",
                                                 show_default=False)] = None,
) -> None:
    """List designs, records, sources or campaigns."""
    with open_store(ctx) as store:
        if campaign is not None:
            if what is Listing.SOURCES:
                raise InvalidInputError("--campaign",
                                        "sources belong to no campaign; drop --campaign")
            store.get_campaign(campaign)
        table = _TABLES[what](store, campaign)
    if table.row_count == 0:
        where = f"in campaign {campaign!r}" if campaign else "in the store"
        print_line(f"no {what.value} {where}")
        return
    stdout_console().print(table)


def _designs(store: Store, campaign: str | None) -> Table:
    table = new_table("Designs", "id", "campaign", "label", "values")
    for item in store.list_designs(campaign):
        values = fmt_values(item.design.values)
        table.add_row(item.id, item.campaign or MISSING, item.design.label or "", values)
    return table


def _records(store: Store, campaign: str | None) -> Table:
    table = new_table("Records", "id", "campaign", "source", "status", "cycles", "observations",
                      "last discharge capacity [A.h]", "superseded",
                      numeric=("cycles", "observations", "last discharge capacity [A.h]"))
    for item in store.list_results(campaign=campaign, include_superseded=True):
        summary = summarise(item.result)
        table.add_row(
            item.id, item.campaign or MISSING, item.result.source, item.result.status.value,
            fmt_count(summary.cycles), str(summary.n_observations),
            fmt_number(summary.last_discharge_capacity_ah),
            "yes" if item.superseded_by else "",
        )
    return table


def _sources(store: Store, campaign: str | None) -> Table:
    table = new_table("Sources", "id", "technique", "fidelity", "observables",
                      numeric=("fidelity",))
    for item in store.list_sources():
        spec = item.spec
        table.add_row(item.id, spec.technique.value, str(spec.fidelity),
                      ", ".join(spec.observables))
    return table


def _campaigns(store: Store, campaign: str | None) -> Table:
    table = new_table("Campaigns", "name", "variables", "cycles", "created")
    chosen = [store.get_campaign(campaign)] if campaign else store.list_campaigns()
    for item in chosen:
        spec = item.spec
        table.add_row(spec.name, ", ".join(spec.design_space.names), str(spec.protocol.n_cycles),
                      item.created_at.isoformat(timespec="seconds"))
    return table


_TABLES = {Listing.DESIGNS: _designs, Listing.RECORDS: _records, Listing.SOURCES: _sources,
           Listing.CAMPAIGNS: _campaigns}
