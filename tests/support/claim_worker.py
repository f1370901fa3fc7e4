"""A worker process for the concurrency test: claims requests until none is left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interphase.schema import RequestStatus
from interphase.store import Store
from support import factories

GAVE_UP = "gave-up-while-queued"


def claim_until_empty(url: str, worker: str, start: Any, out_path: str) -> None:
    """Claim requests until the queue is empty, appending each claimed id to ``out_path``.

    When requests are still queued after the store answered "nothing left", the line
    ``gave-up-while-queued N`` follows: N rows were locked by other workers' claims
    in flight (fine, at most one per other worker) or the claim gave up too early.

    Args:
        url: Database URL.
        worker: Worker name recorded with each claim.
        start: A ``multiprocessing`` barrier shared by all workers, so that they race.
        out_path: File that receives one claimed request id per line.
    """
    factories.protocol()  # loads PyBaMM's step parser before the race, not during it
    store = Store(url)
    try:
        start.wait(timeout=120)
        with Path(out_path).open("w") as out:
            while (claimed := store.claim_next_request(worker)) is not None:
                out.write(claimed.id + "\n")
                out.flush()
            still_queued = len(store.list_requests(status=RequestStatus.QUEUED))
            if still_queued:
                out.write(f"{GAVE_UP} {still_queued}\n")
    finally:
        store.close()
