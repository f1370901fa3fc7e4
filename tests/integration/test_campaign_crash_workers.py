"""SIGKILL on the campaign, on a worker holding leases, or on both, at random points: nothing lost or doubled.

The campaign runs on the real clock (``interphase run --clock real``) over a real store; its lab
(the conductivity robot, four channels) is served only by two ``interphase worker`` processes
with short leases, paced at 0.5 lab hours per 0.05 wall seconds. At random moments after progress,
the test kills the campaign (then ``interphase resume``), a worker (then a new worker), or both.

Counted through the store at the end: every result acknowledged before a kill is still there,
unchanged; no request has two results; every request ended; each request's status log alternates
claims with their ends, and every claim after the first follows a lease that expired and was
re-queued (so each re-run after a killed worker is visible); the refused posts are logged; the
store is consistent; and the campaign finished once.

``make test`` kills four times on SQLite; ``make test-slow`` twenty times on each backend.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from interphase.store import Store
from interphase.store.tables import RequestRow, ResultRow
from support.campaign_processes import acknowledged, interphase

pytestmark = pytest.mark.timeout(900)

CONFIG = """\
name: crash
world: electrolyte-conductivity
strategy: gp-qlogei
seed: 3
budget: {lab_hours: LAB_HOURS}
stop: {replicates: 2, until_verified: false}
clock: {mode: real, time_scale: 36000, poll_seconds: 0.1, local_workers: [electrolyte-empirical]}
"""
LAB = "hte-robot"
LEASE_S = 2.0


def worker(db: str, name: str) -> subprocess.Popen[bytes]:
    return interphase(db, "worker", "--source", LAB, "--world", "electrolyte-conductivity", "--slots", "2",
                      "--time-scale", "36000", "--campaign", "crash", "--name", name,
                      "--lease-seconds", str(LEASE_S), "--poll-seconds", "0.1")


def progress(db: str) -> int:
    """Decisions plus results: it grows whenever the campaign or a worker gets something done."""
    store = Store(db)
    try:
        if not store.revision():
            return 0
        counts = store.counts()
        return counts.get("decisions", 0) + counts.get("results", 0)
    finally:
        store.close()


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(timeout=60)
    if process.stderr:
        process.stderr.close()


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "crash.yaml"
    path.write_text(CONFIG.replace("LAB_HOURS", str(request.param)))
    return path


@pytest.mark.parametrize(("backend", "kills", "config"),
                         [("sqlite", 4, 12), pytest.param("sqlite", 20, 40, marks=pytest.mark.slow),
                          pytest.param("postgresql", 20, 40, marks=pytest.mark.slow)],
                         indirect=["backend", "config"])
def test_killing_campaign_and_workers_loses_nothing_and_doubles_nothing(database_url: str, config: Path,
                                                                        tmp_path: Path, kills: int) -> None:
    rng = random.Random(20261207)
    report = str(tmp_path / "report")
    initial = Store(database_url)  # workers serve an existing store; they do not create one
    initial.init()
    initial.close()
    campaign = interphase(database_url, "run", str(config), "--quiet", "--report", report)
    workers = {name: worker(database_url, name) for name in ("w0", "w1")}
    generation = 2
    seen: dict[str, str] = {}
    done = 0
    started = time.monotonic()
    try:
        while True:
            before = progress(database_url)
            while campaign.poll() is None and progress(database_url) == before:
                time.sleep(0.05)
            if campaign.poll() is not None:
                break
            if done < kills:
                time.sleep(rng.uniform(0.0, 0.5))
                victim = rng.choice(("campaign", "worker", "both"))
                if victim in ("worker", "both"):
                    name = rng.choice(sorted(workers))
                    stop(workers.pop(name))
                    workers[f"w{generation}"] = worker(database_url, f"w{generation}")
                    generation += 1
                if victim in ("campaign", "both") and campaign.poll() is None:
                    stop(campaign)
                    campaign = interphase(database_url, "resume", "crash", "--quiet", "--report", report)
                done += 1
                now = acknowledged(database_url)
                lost = {rid for rid in seen if now.get(rid) != seen[rid]}
                assert not lost, f"acknowledged results lost or changed after kill {done}: {lost}"
                seen = now
            assert time.monotonic() - started < 800, "the campaign did not finish"
        errors = campaign.stderr.read().decode() if campaign.stderr else ""
        assert campaign.returncode == 0, errors
    finally:
        for process in [campaign, *workers.values()]:
            stop(process, signal.SIGTERM)
    assert done == kills

    store = Store(database_url)
    try:
        assert store.integrity_problems() == []
        now = acknowledged(database_url)
        assert all(now.get(rid) == digest for rid, digest in seen.items())
        with store.engine.connect() as connection:
            requests = connection.execute(select(RequestRow.id, RequestRow.status)).all()
            answered = connection.execute(select(ResultRow.request_id)).scalars().all()
        assert len(answered) == len(set(answered)), "a request answered twice"
        assert {r.id for r in requests} == set(answered), "a launched request without its result"
        assert all(r.status in ("done", "failed", "stopped") for r in requests)
        requeued = 0
        for request in requests:
            history = [(e.status, e.detail) for e in store.status_history(request.id)]
            statuses = [status for status, _ in history]
            live = False
            for status, detail in history:
                if status == "claimed":
                    assert not live, f"request {request.id} claimed twice at once: {statuses}"
                    live = True
                elif status == "queued" and detail.startswith("re-queued"):
                    assert live, statuses
                    live, requeued = False, requeued + 1
                elif status in ("done", "failed", "stopped"):
                    live = False
            runs_again = sum(1 for s, d in history if s == "queued" and d.startswith("re-queued"))
            assert statuses.count("claimed") == 1 + runs_again or "abandoned" in statuses, statuses
        launched = [run["request_id"] for d in store.list_decisions("crash")
                    if d.chosen["kind"] in ("launch", "replicate") for run in d.chosen["runs"]]
        assert sorted(launched) == sorted(r.id for r in requests), "a request launched twice, or never"
        kinds = [d.chosen["kind"] for d in store.list_decisions("crash")]
        assert kinds.count("finished") == 1
        assert kinds.count("arrived") == len(requests)
    finally:
        store.close()
