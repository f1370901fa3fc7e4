"""A process for the lease race: tries once to take a campaign's lease, says how it went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interphase.store import CampaignBusyError, Store
from interphase.store.leases import acquire_lease


def race_for_lease(url: str, campaign: str, start: Any, done: Any, out_path: str) -> None:
    """Try to take the lease once all racers are ready; write ``won HOLDER`` or ``busy PID``.

    Args:
        url: Database URL.
        campaign: The campaign every racer wants.
        start: A ``multiprocessing`` barrier, so that the racers try at once.
        done: A second barrier: the winner stays alive until every racer has tried, or a
            late racer would find a dead holder and rightly take the lease over.
        out_path: Where the outcome goes.
    """
    store = Store(url)
    try:
        start.wait(timeout=120)
        try:
            outcome = f"won {acquire_lease(store, campaign).holder}"
        except CampaignBusyError as busy:
            outcome = f"busy {busy.lease.pid}"
        Path(out_path).write_text(outcome)
        done.wait(timeout=120)
    finally:
        store.close()
