"""A worker killed while it holds leases: its requests go back to the queue and its late results are refused.

Two ``interphase worker`` processes share a SQLite store. Worker A paces the emulated lab
slowly and holds all three requests; it is killed with SIGKILL (no clean-up runs). Once
its 3-second leases lapse, worker B claims the requests and completes them. A's results,
replayed with the lease tokens from A's claims log, are refused, and each request's status
log tells the story: claimed by A, re-queued when A's lease expired, claimed by B, done,
A's result refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from interphase.schema import RequestStatus
from interphase.store import Store
from interphase.store.queue import Claim, ResultRefusedError, WorkQueue
from support.queue_lab import LAB, WORLD, queue_lab_requests

LEASE_S = "3"
STARTUP_S = 60.0  # a cold start imports PyBaMM and builds the lab; far less when warm


def start_worker(db: Path, name: str, folder: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "interphase.cli.main", "--db", str(db), "worker", "--source", LAB,
               "--world", WORLD, "--slots", "3", "--lease-seconds", LEASE_S, "--poll-seconds", "0.2",
               "--name", name, "--claims-log", str(folder / f"{name}.claims.jsonl"), *args]
    with (folder / f"{name}.out").open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def claims_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.timeout(180)
def test_a_killed_workers_leases_lapse_its_requests_finish_elsewhere_and_its_late_results_are_refused(
        tmp_path: Path) -> None:
    db = tmp_path / "zombie.db"
    store = Store(str(db))
    store.init()
    lab = queue_lab_requests(store, 3)
    held_by_a = {RequestStatus.RUNNING}
    # A paces one lab hour per wall second: each 6-cycle test would take about 40 s.
    worker_a = start_worker(db, "worker-a", tmp_path, "--time-scale", "3600")
    worker_b: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: {store.get_request(i).status for i in lab.request_ids} == held_by_a
                 and len(claims_of(tmp_path / "worker-a.claims.jsonl")) == 3, STARTUP_S, "worker A to hold 3")
        worker_b = start_worker(db, "worker-b", tmp_path, "--max-requests", "3", "--idle-exit", "60")
        b_out = tmp_path / "worker-b.out"
        wait_for(lambda: b"claiming" in b_out.read_bytes(), STARTUP_S, "worker B to start")
        assert claims_of(tmp_path / "worker-b.claims.jsonl") == []  # A's live leases are not B's to take
        worker_a.kill()
        worker_a.wait(timeout=10)
        assert worker_b.wait(timeout=60) == 0, (tmp_path / "worker-b.out").read_text()
    finally:
        for process in (worker_a, worker_b):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    work = WorkQueue(store)
    a_claims = {c["request_id"]: c for c in claims_of(tmp_path / "worker-a.claims.jsonl")}
    b_claims = {c["request_id"]: c for c in claims_of(tmp_path / "worker-b.claims.jsonl")}
    assert set(a_claims) == set(b_claims) == set(lab.request_ids)
    for i, request_id in enumerate(lab.request_ids):
        assert store.get_request(request_id).status is RequestStatus.DONE
        (stored,) = [r for r in store.list_results() if r.request_id == request_id]
        assert stored.result.observations == lab.own_result(i).observations
        assert (a_claims[request_id]["attempt"], b_claims[request_id]["attempt"]) == (1, 2)
        # A comes back from the dead and posts what it had computed, under its old lease
        zombie = Claim(request=store.get_request(request_id), worker="worker-a",
                       token=str(a_claims[request_id]["token"]), attempt=1, expires_at=None)
        with pytest.raises(ResultRefusedError, match="ended"):
            work.post(zombie, lab.own_result(i))
        history = store.status_history(request_id)
        assert [e.status for e in history] == ["queued", "claimed", "running", "queued", "claimed", "running",
                                               "done", "refused"]
        assert history[1].detail == "worker-a (attempt 1)" and history[4].detail == "worker-b (attempt 2)"
        assert history[3].detail.startswith("re-queued: the lease of worker-a (attempt 1) expired")
        assert history[7].detail.startswith("worker-a: result from 'worker-a' (attempt 1) refused")
    assert "claimed 3, posted 3 (0 stopped), refused 0, lost 0" in (tmp_path / "worker-b.out").read_text()
    store.close()
