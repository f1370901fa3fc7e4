"""A worker process for the work-queue acceptance test: claim, heartbeat, post until the queue is empty.

Besides honest work, a worker can be told to misbehave in the three ways the queue must
refuse, so that the test can check every refusal reached the status log:

- *lapse*: claim with a short lease, let it run out, force the expiry, then post anyway;
- *second*: after an accepted post, post another result for the same request under a new key;
- *foreign*: post for a request some other worker holds, with a forged lease token.

Each worker writes one JSON line per event to its output file; the test compares them with
the status log.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from interphase.schema import Design
from interphase.store import Store
from interphase.store.queue import Claim, ClaimLostError, ResultRefusedError, WorkQueue
from support import factories

MAX_ATTEMPTS = 20
"""Generous, so that lapsed claims never exhaust a request and fail it."""

LAPSE_LEASE_S = 0.2
"""Lease of a claim the worker means to let lapse (seconds)."""

RESENDS = 3
"""Accepted posts each worker sends twice, as after a lost answer (its first ones)."""


@dataclass(frozen=True)
class Misbehaviour:
    """How many times a worker breaks each rule; zero everywhere is an honest worker.

    Attributes:
        lapses: Claims it lets expire and then posts for anyway (its first ones).
        second_posts: Accepted requests it posts a second result for (its first ones).
        foreign_posts: Posts for requests other workers hold, with a forged token.
    """

    lapses: int = 0
    second_posts: int = 0
    foreign_posts: int = 0


def work_until_empty(url: str, worker: str, misbehaviour: Misbehaviour, start: Any, out_path: str) -> None:
    """Claim, heartbeat and post requests until none is queued; record every event.

    Args:
        url: Database URL.
        worker: Worker name recorded with each claim.
        misbehaviour: Which refusals to provoke, and how often.
        start: A ``multiprocessing`` barrier shared by all workers, so that they race.
        out_path: File that receives one JSON event per line: ``claimed``, ``posted``,
            ``resent``, ``refused`` (with ``why``: lapse, second or foreign) and ``lost``
            (a heartbeat after the lease lapsed).
    """
    factories.protocol()  # loads PyBaMM's step parser before the race, not during it
    store = Store(url)
    try:
        start.wait(timeout=120)
        with Path(out_path).open("w") as out:
            _work(store, worker, misbehaviour, out)
    finally:
        store.close()


def _work(store: Store, worker: str, misbehaviour: Misbehaviour, out: IO[str]) -> None:
    honest = WorkQueue(store, lease_s=60, max_attempts=MAX_ATTEMPTS)
    lapsing = WorkQueue(store, lease_s=LAPSE_LEASE_S, max_attempts=MAX_ATTEMPTS)
    designs: dict[str, Design] = {}
    lapses = seconds = foreigns = resends = 0
    while True:
        queue = lapsing if lapses < misbehaviour.lapses else honest
        claims = queue.claim(worker)
        if not claims:
            return
        (claim,) = claims
        _record(out, "claimed", claim.request_id, attempt=claim.attempt, token=claim.token)
        queue.heartbeat(claim)
        result = _result_for(store, claim, designs)
        if queue is lapsing:
            lapses += 1
            _lapse_and_post(queue, claim, result, out)
            continue
        stored = queue.post(claim, result)
        _record(out, "posted", claim.request_id, result_id=stored.id, token=claim.token)
        if resends < RESENDS:
            resends += 1
            again = queue.post(claim, result)  # a re-send after a lost answer is not a second result
            _record(out, "resent", claim.request_id, result_id=again.id)
        if seconds < misbehaviour.second_posts:
            seconds += 1
            _post_refused(queue, claim, result, out, "second",
                          idempotency_key=f"{claim.request.idempotency_key}:second")
        if foreigns < misbehaviour.foreign_posts:
            foreigns += _post_foreign(queue, worker, designs, out)


def _lapse_and_post(queue: WorkQueue, claim: Claim, result: Any, out: IO[str]) -> None:
    """Let the claim's lease run out, force the expiry, then try to keep working and to post."""
    time.sleep(3 * LAPSE_LEASE_S)
    queue.expire()  # another worker's claim may have done it already
    try:
        queue.heartbeat(claim)
    except ClaimLostError:
        _record(out, "lost", claim.request_id, attempt=claim.attempt)
    else:
        raise AssertionError(f"a heartbeat renewed the lapsed claim of {claim.request_id}")
    _post_refused(queue, claim, result, out, "lapse")


def _post_foreign(queue: WorkQueue, worker: str, designs: dict[str, Design], out: IO[str]) -> int:
    """Post for a request another worker holds, with a forged token; 1 if one was found, else 0."""
    held = [e for e in queue.snapshot() if e.worker is not None and e.worker != worker]
    if not held:
        return 0
    request = queue.store.get_request(held[0].request_id)
    forged = Claim(request=request, worker=worker, token=uuid.uuid4().hex, attempt=request.attempts,
                   expires_at=None)
    _post_refused(queue, forged, _result_for(queue.store, forged, designs), out, "foreign")
    return 1


def _post_refused(queue: WorkQueue, claim: Claim, result: Any, out: IO[str], why: str,
                  idempotency_key: str | None = None) -> None:
    try:
        stored = queue.post(claim, result, idempotency_key=idempotency_key)
    except ResultRefusedError as exc:
        _record(out, "refused", claim.request_id, why=why, message=str(exc))
    else:
        raise AssertionError(f"a {why} post for {claim.request_id} was accepted as {stored.id}")


def _result_for(store: Store, claim: Claim, designs: dict[str, Design]) -> Any:
    design_id = claim.request.design_id
    if design_id not in designs:
        designs[design_id] = store.get_design(design_id).design
    return factories.result(factories.source_spec(), designs[design_id], n_observations=20,
                            seed=claim.request.seed)


def _record(out: IO[str], event: str, request_id: str, **fields: Any) -> None:
    out.write(json.dumps({"event": event, "request": request_id, **fields}) + "\n")
    out.flush()
