"""Decision logs compared across runs of one campaign: timings measured on the machine left out.

On the simulated clock a campaign decides the same way wherever its simulations run, but
each decision also records how long it took and each run its measured CPU time; store ids
are random. :func:`decisions_without_timings` gives the log with those left out and ids
named by content, so two runs of one seed compare equal entry for entry.
"""

from __future__ import annotations

from typing import Any

from interphase.schema import canonical_hash
from interphase.store import Store

WALL_CLOCK_FIELDS = ("decide_seconds", "fit_seconds", "select_seconds", "seconds", "wall_seconds",
                     "cpu_hours")
"""Measured on this machine, so they differ from run to run: the time to decide, to fit the model
and to select a batch (the interphase agent's scores), a search's time (the GP baselines' scores),
wall time and CPU time."""


def decisions_without_timings(store: Store, campaign: str) -> list[dict[str, Any]]:
    """The decision log with wall-clock timings left out and store ids (random) named by content."""
    names = {r.id: r.idempotency_key for r in store.list_requests(campaign)}
    names |= {d.id: canonical_hash(d.design.values) for d in store.list_designs(campaign)}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in WALL_CLOCK_FIELDS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    return [{"chosen": strip(d.chosen), "reason": d.reason} for d in store.list_decisions(campaign)]


def first_difference(first: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Where two logs from :func:`decisions_without_timings` part: the index and both entries.

    ``None`` if they are equal; an entry is ``None`` where its log has ended.
    """
    for i in range(max(len(first), len(other))):
        a = first[i] if i < len(first) else None
        b = other[i] if i < len(other) else None
        if a != b:
            return {"index": i, "first": a, "other": b}
    return None
