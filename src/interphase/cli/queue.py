"""``interphase queue``: what is queued, claimed and running, by source, with each lease's age.

The command only reads. It never expires a lapsed lease, so what it shows is what the
store holds: a claim past its expiry stays listed as held, with "lapsed ... ago", until a
worker's next claim re-queues it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from interphase.cli.output import MISSING, new_table, print_line, stdout_console
from interphase.cli.state import open_store
from interphase.store.queue import LIVE, QueueEntry, WorkQueue

QUEUED_SHOWN = 20
"""Queued requests listed per source by default, oldest first."""

STATES = ("queued", "claimed", "running")
JSON_SCHEMA = "interphase.queue/1"


def queue_command(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option(
        "--campaign", help="Only this campaign's requests.", show_default=False)] = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="Only requests for this source.", show_default=False)] = None,
    shown: Annotated[int, typer.Option(
        "--queued", min=0, max=10_000,
        help="Queued requests listed per source, oldest first.")] = QUEUED_SHOWN,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON (every request, no listing cap) instead of tables.")] = False,
) -> None:
    """Show the work queue by source: counts, each held request's lease, and the oldest queued ones."""
    with open_store(ctx) as store:
        if campaign is not None:
            store.get_campaign(campaign)  # an unknown name is an error that lists the known ones
        if source is not None:
            store.get_source(source)
        entries = WorkQueue(store).snapshot(campaign)
    if source is not None:
        entries = [e for e in entries if e.source == source]
    if as_json:
        typer.echo(json.dumps(queue_json(entries, campaign=campaign, source=source), indent=2))
        return
    if not entries:
        print_line(f"the queue is empty{_scope(campaign, source)}: nothing queued, claimed or running")
        return
    console = stdout_console()
    by_source = _by_source(entries)
    console.print(_counts_table(by_source, _scope(campaign, source)))
    for name, group in by_source.items():
        held = [e for e in group if e.status in LIVE]
        if held:
            console.print(_held_table(name, held, with_campaign=campaign is None))
        waiting = [e for e in group if e.status == "queued"]
        if waiting and shown:
            console.print(_queued_table(name, waiting[:shown], len(waiting), with_campaign=campaign is None))
        if len(waiting) > shown:
            print_line(f"... and {len(waiting) - shown} more queued for {name}"
                       + ("" if shown else " (raise --queued to list them)"))


def queue_json(entries: Sequence[QueueEntry], *, campaign: str | None, source: str | None) -> dict[str, Any]:
    """The queue as plain JSON data.

    Args:
        entries: The snapshot, oldest first.
        campaign: The campaign filter, recorded in the output.
        source: The source filter, recorded in the output.

    Returns:
        ``{"schema", "campaign", "source", "totals": {state: n}, "sources": [{"source",
        "counts": {state: n}, "held": [...], "queued": [...]}]}``. Each held request has
        ``request_id, campaign, status, worker, attempt, lease_age_s, heartbeat_age_s,
        expires_in_s`` (negative once lapsed, null for a claim that never expires),
        ``cycles_streamed, stop_after``; each queued one ``request_id, campaign,
        attempts, waiting_s``. Ages are in seconds; lists are oldest first.
    """
    groups = []
    for name, group in _by_source(entries).items():
        groups.append({
            "source": name,
            "counts": _counts(group),
            "held": [_held_json(e) for e in group if e.status in LIVE],
            "queued": [{"request_id": e.request_id, "campaign": e.campaign, "attempts": e.attempts,
                        "waiting_s": e.waiting_s} for e in group if e.status == "queued"],
        })
    return {"schema": JSON_SCHEMA, "campaign": campaign, "source": source, "totals": _counts(entries),
            "sources": groups}


def _held_json(e: QueueEntry) -> dict[str, Any]:
    return {"request_id": e.request_id, "campaign": e.campaign, "status": e.status, "worker": e.worker,
            "attempt": e.attempts, "lease_age_s": e.lease_age_s, "heartbeat_age_s": e.heartbeat_age_s,
            "expires_in_s": e.expires_in_s, "cycles_streamed": e.cycles_streamed, "stop_after": e.stop_after}


def _by_source(entries: Sequence[QueueEntry]) -> dict[str, list[QueueEntry]]:
    groups: dict[str, list[QueueEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.source, []).append(entry)
    return dict(sorted(groups.items()))


def _counts(entries: Sequence[QueueEntry]) -> dict[str, int]:
    return {state: sum(1 for e in entries if e.status == state) for state in STATES}


def _scope(campaign: str | None, source: str | None) -> str:
    parts = ([f"campaign {campaign!r}"] if campaign else []) + ([f"source {source!r}"] if source else [])
    return f" for {' and '.join(parts)}" if parts else ""


def _counts_table(by_source: dict[str, list[QueueEntry]], scope: str) -> Table:
    table = new_table(f"Work queue{scope}", "source", *STATES, "oldest wait",
                      numeric=(*STATES, "oldest wait"), unbroken=("source",))
    for name, group in by_source.items():
        counts = _counts(group)
        waits = [e.waiting_s for e in group if e.status == "queued"]
        table.add_row(name, *(str(counts[s]) for s in STATES), fmt_duration(max(waits, default=None)))
    return table


def _held_table(source: str, held: Sequence[QueueEntry], *, with_campaign: bool) -> Table:
    columns = ["request id", *(["campaign"] if with_campaign else []), "status", "worker", "attempt",
               "lease age", "heartbeat age", "expires in", "cycles streamed", "stop after"]
    table = new_table(f"{source}: held", *columns, unbroken=("request id", "worker"),
                      numeric=("attempt", "lease age", "heartbeat age", "expires in", "cycles streamed",
                               "stop after"))
    for e in held:
        table.add_row(e.request_id, *([e.campaign] if with_campaign else []), e.status, e.worker or MISSING,
                      str(e.attempts), fmt_duration(e.lease_age_s), fmt_duration(e.heartbeat_age_s),
                      _fmt_expiry(e.expires_in_s), str(e.cycles_streamed),
                      MISSING if e.stop_after is None else f"cycle {e.stop_after}")
    return table


def _queued_table(source: str, listed: Sequence[QueueEntry], total: int, *, with_campaign: bool) -> Table:
    title = f"{source}: queued" + (f" (oldest {len(listed)} of {total})" if total > len(listed) else "")
    columns = ["request id", *(["campaign"] if with_campaign else []), "earlier claims", "waiting"]
    table = new_table(title, *columns, unbroken=("request id",), numeric=("earlier claims", "waiting"))
    for e in listed:
        table.add_row(e.request_id, *([e.campaign] if with_campaign else []), str(e.attempts),
                      fmt_duration(e.waiting_s))
    return table


def fmt_duration(seconds: float | None) -> str:
    """Format a span of seconds for people: ``"42 s"``, ``"12.5 min"``, ``"3.2 h"``, ``"2.1 d"``."""
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _fmt_expiry(expires_in_s: float | None) -> str:
    if expires_in_s is None:
        return "never"  # a claim the campaign's own process holds under its campaign lease
    if expires_in_s < 0:
        return f"lapsed {fmt_duration(-expires_in_s)} ago"
    return fmt_duration(expires_in_s)
