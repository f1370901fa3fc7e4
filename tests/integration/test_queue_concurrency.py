"""Eight worker processes drain one work queue: one holder at a time, exactly one result per request.

The workers (``support/queue_worker_proc.py``) claim, heartbeat and post until the queue is
empty; some also let leases lapse and post late, post a second result, or post for a request
another worker holds. Everything is then checked against the status log, the store's own
record of every move, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from interphase.schema import RequestStatus
from interphase.store import Store
from support import factories
from support.queue_worker_proc import Misbehaviour, work_until_empty

pytestmark = pytest.mark.timeout(180)

N_WORKERS = 8
N_REQUESTS = 200
JOIN_TIMEOUT_S = 150.0
ROLES = (
    Misbehaviour(lapses=2), Misbehaviour(lapses=2),
    Misbehaviour(second_posts=3), Misbehaviour(second_posts=3),
    Misbehaviour(foreign_posts=3), Misbehaviour(foreign_posts=3),
    Misbehaviour(), Misbehaviour(),
)
ENDS = ("done", "failed", "stopped", "cancelled")


def _queue_requests(store: Store, n: int) -> list[str]:
    seeded = factories.seed_campaign(store, n_designs=10)
    return [store.create_request(factories.request(seeded.campaign, seeded.design_ids[i % 10], key=f"req-{i}",
                                                   seed=i)).id for i in range(n)]


def _run_workers(database_url: str, tmp_path: Path) -> tuple[dict[str, list[dict[str, Any]]], float]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(N_WORKERS)
    outputs = {f"worker-{i}": tmp_path / f"worker-{i}.jsonl" for i in range(N_WORKERS)}
    workers = [context.Process(target=work_until_empty, args=(database_url, name, role, start, str(path)),
                               name=name)
               for (name, path), role in zip(outputs.items(), ROLES, strict=True)]
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
    assert {w.name: w.exitcode for w in workers} == {w.name: 0 for w in workers}
    events = {name: [json.loads(line) for line in path.read_text().splitlines()]
              for name, path in outputs.items()}
    return events, elapsed


def _request_log(store: Store) -> dict[str, list[tuple[str, str]]]:
    """Each request's status-log lines ``(status, detail)``, in the order they were written."""
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT entity_id, status, detail FROM status_log "
                                       "WHERE entity = 'request' ORDER BY id")).all()
    lines: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for request_id, status, detail in rows:
        lines[request_id].append((status, detail))
    return lines


def _walk(request_id: str, lines: list[tuple[str, str]]) -> list[str]:
    """The request's claimers in order; fails on two live claims, or on any move after its end.

    The log must read ``queued (claimed [running] (queued | end))*``, with refusals anywhere:
    a claim only from the queue, a re-queue or an end only from a live claim.
    """
    assert lines[0][0] == "queued", (request_id, lines)
    claimers: list[str] = []
    live = ended = False
    for status, detail in lines[1:]:
        where = f"request {request_id}: {status!r} after {[s for s, _ in lines]}"
        if status == "claimed":
            assert not live and not ended, f"two live claims: {where}"
            claimers.append(detail)
            live = True
        elif status == "running":
            assert live, where
        elif status == "queued" or status in ENDS:
            assert live and not ended, where
            live, ended = False, status in ENDS
        else:
            assert status == "refused", where
    assert ended and not live, f"request {request_id} never ended: {[s for s, _ in lines]}"
    return claimers


def test_eight_workers_hold_each_request_one_at_a_time_and_post_exactly_one_result(
        store: Store, database_url: str, tmp_path: Path) -> None:
    queued = _queue_requests(store, N_REQUESTS)
    events, elapsed = _run_workers(database_url, tmp_path)
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for worker, worker_events in events.items():
        for event in worker_events:
            by_kind[event["event"]].append((worker, event))
    per_worker = {w: sum(e["event"] == "posted" for e in evs) for w, evs in events.items()}
    summary = f"{len(by_kind['posted'])} results in {elapsed:.1f} s, per worker {per_worker}"
    assert sum(1 for n in per_worker.values() if n) >= 2, f"no race happened; {summary}"

    # The status log: every request's claims alternate with re-queues and one end.
    log = _request_log(store)
    assert sorted(log) == sorted(queued), summary
    claimers = {request_id: _walk(request_id, lines) for request_id, lines in log.items()}
    logged_claims = Counter((rid, detail) for rid, names in claimers.items() for detail in names)
    seen_claims = Counter((e["request"], f"{w} (attempt {e['attempt']})") for w, e in by_kind["claimed"])
    assert logged_claims == seen_claims, summary
    for request_id, names in claimers.items():
        assert [name.rsplit("attempt ", 1)[1] for name in names] == [
            f"{n})" for n in range(1, len(names) + 1)], (request_id, names)

    # Exactly one result per request, posted by the last claimer with its own lease token.
    with store.engine.connect() as connection:
        results = connection.execute(text("SELECT request_id, id, lease_token FROM results")).all()
    assert Counter(request_id for request_id, _, _ in results) == Counter(queued), summary
    posted = {e["request"]: (w, e) for w, e in by_kind["posted"]}
    assert sorted(posted) == sorted(queued) and len(by_kind["posted"]) == N_REQUESTS, summary
    for request_id, result_id, token in results:
        worker, event = posted[request_id]
        assert (event["result_id"], event["token"]) == (result_id, token), request_id
        assert claimers[request_id][-1].startswith(f"{worker} "), (request_id, claimers[request_id])
    resent = {e["request"]: e["result_id"] for _, e in by_kind["resent"]}
    assert resent and resent == {rid: posted[rid][1]["result_id"] for rid in resent}

    # Every refusal a worker met is a status-log line naming it, and nothing else was refused.
    refused_seen = Counter((e["request"], w) for w, e in by_kind["refused"])
    refused_logged = Counter((rid, detail.split(":", 1)[0]) for rid, lines in log.items()
                             for status, detail in lines if status == "refused")
    assert refused_logged == refused_seen, summary
    why = Counter(e["why"] for _, e in by_kind["refused"])
    planned = {kind: sum(getattr(role, field) for role in ROLES)
               for kind, field in (("lapse", "lapses"), ("second", "second_posts"))}
    assert why["lapse"] == planned["lapse"] and why["second"] == planned["second"], why
    assert len(by_kind["lost"]) == planned["lapse"]
    requeued = sum(1 for lines in log.values() for status, _ in lines[1:] if status == "queued")
    assert requeued == planned["lapse"], summary

    assert {r.status for r in store.list_requests()} == {RequestStatus.DONE}
    assert store.integrity_problems() == []
