"""Eight processes race to claim one queue: every request is claimed exactly once."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from interphase.schema import RequestStatus
from interphase.store import Store
from support import claim_worker, factories

N_WORKERS = 8
N_REQUESTS = 200
JOIN_TIMEOUT_S = 240.0


def _queue_requests(store: Store, n: int) -> list[str]:
    seeded = factories.seed_campaign(store, n_designs=10)
    return [
        store.create_request(factories.request(
            seeded.campaign, seeded.design_ids[i % 10], key=f"req-{i}", seed=i)).id
        for i in range(n)
    ]


def test_each_request_is_claimed_exactly_once(store: Store, database_url: str,
                                              tmp_path: Path) -> None:
    queued = _queue_requests(store, N_REQUESTS)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(N_WORKERS)
    outputs = {f"worker-{i}": tmp_path / f"worker-{i}.txt" for i in range(N_WORKERS)}
    workers = [
        context.Process(target=claim_worker.claim_until_empty,
                        args=(database_url, name, start, str(path)), name=name)
        for name, path in outputs.items()
    ]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(0.0, began + JOIN_TIMEOUT_S - time.monotonic()))
    elapsed = time.monotonic() - began
    hung = [w.name for w in workers if w.is_alive()]
    for worker in workers:
        if worker.is_alive():
            worker.kill()
            worker.join()
    assert not hung, f"workers still running after {elapsed:.0f} s: {hung}"
    assert [w.exitcode for w in workers] == [0] * N_WORKERS

    lines = {name: path.read_text().splitlines() for name, path in outputs.items()}
    gave_up = {name: int(line.split()[1]) for name, worker_lines in lines.items()
               for line in worker_lines if line.startswith(claim_worker.GAVE_UP)}
    claimed_by = {name: [line for line in worker_lines if not line.startswith(claim_worker.GAVE_UP)]
                  for name, worker_lines in lines.items()}
    every_claim = [rid for ids in claimed_by.values() for rid in ids]
    duplicates = [rid for rid, n in Counter(every_claim).items() if n > 1]
    per_worker = {name: len(ids) for name, ids in claimed_by.items()}
    summary = (f"{len(every_claim)} claims in {elapsed:.1f} s, per worker {per_worker}; "
               f"requests still queued when a worker was told 'nothing left': {gave_up or 'none'}")
    assert not duplicates, f"claimed more than once: {duplicates[:5]}; {summary}"
    # "Nothing left" is right while the last rows are locked by claims in flight
    # (SKIP LOCKED), at most one per other worker; more means a claim gave up early.
    assert max(gave_up.values(), default=0) < N_WORKERS, summary
    assert sorted(every_claim) == sorted(queued), summary
    assert sum(1 for n in per_worker.values() if n) >= 2, f"no race happened; {summary}"

    with store.engine.connect() as connection:
        logged = Counter(row[0] for row in connection.execute(text(
            "SELECT entity_id FROM status_log WHERE entity = 'request' AND status = 'claimed'")))
        owners = dict(connection.execute(text("SELECT id, claimed_by FROM requests")).all())
    assert logged == Counter(queued), summary
    assert owners == {rid: name for name, ids in claimed_by.items() for rid in ids}
    assert store.list_requests(status=RequestStatus.QUEUED) == []
    assert store.claim_next_request("late-worker") is None
    assert store.integrity_problems() == []


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_claim_returns_none_only_when_nothing_is_queued(store: Store, database_url: str) -> None:
    """A worker that loses every race must still get a request, or see an empty queue.

    A rival connection claims the oldest unlocked queued request just before each of
    the worker's compare-and-set UPDATEs, so the worker loses every race it can lose.
    SQLite is not run: BEGIN IMMEDIATE makes its select-then-update atomic.
    """
    queued = _queue_requests(store, 60)
    rival = create_engine(database_url, poolclass=NullPool)
    stolen: list[str] = []

    def steal_first(_conn, _cursor, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE requests SET status") and "claimed_by" in statement:
            with rival.begin() as connection:
                stolen.extend(connection.execute(text(
                    "UPDATE requests SET status = 'claimed', claimed_by = 'rival' WHERE id = ("
                    "SELECT id FROM requests WHERE status = 'queued' ORDER BY created_at, id "
                    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id")).scalars())

    event.listen(store.engine, "before_cursor_execute", steal_first)
    try:
        claimed = store.claim_next_request("worker-a")
    finally:
        event.remove(store.engine, "before_cursor_execute", steal_first)
        rival.dispose()
    left = store.list_requests(status=RequestStatus.QUEUED)
    assert claimed is not None or not left, (
        f"None returned with {len(left)} of {len(queued)} requests queued, "
        f"after a rival won {len(stolen)} races")
    if claimed is not None:
        assert claimed.id not in stolen


def test_eight_processes_racing_for_one_campaign_lease_leave_one_holder(store: Store, database_url: str,
                                                                        tmp_path: Path) -> None:
    from interphase.store.leases import current_lease
    from support import lease_worker

    context = multiprocessing.get_context("spawn")
    start, done = context.Barrier(N_WORKERS), context.Barrier(N_WORKERS)
    outputs = [tmp_path / f"racer-{i}.txt" for i in range(N_WORKERS)]
    racers = [context.Process(target=lease_worker.race_for_lease, args=(database_url, "raced", start, done,
                                                                        str(path))) for path in outputs]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=JOIN_TIMEOUT_S)
    hung = [racer.pid for racer in racers if racer.is_alive()]
    for racer in racers:
        if racer.is_alive():
            racer.kill()
            racer.join()
    assert not hung and [racer.exitcode for racer in racers] == [0] * N_WORKERS
    outcomes = {racer.pid: path.read_text().split() for racer, path in zip(racers, outputs, strict=True)}
    winners = [pid for pid, (outcome, _) in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    assert all(int(detail) == winners[0] for outcome, detail in outcomes.values() if outcome == "busy")
    assert current_lease(store, "raced").holder == outcomes[winners[0]][1]
