"""``interphase queue`` end to end on a SQLite store with queued, held, lapsed and finished requests."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import Result

from interphase.schema import RequestStatus
from interphase.store import Store
from interphase.store.queue import WorkQueue
from support import factories
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(120)

FAST, SLOW = factories.source_spec("sim-fast"), factories.source_spec("sim-slow", fidelity=2)
N_FAST = 27  # two held, 25 queued: more than the 20 listed by default
LAPSED_WORKER = "lab-3:pid=77"


@dataclass(frozen=True)
class FilledQueue:
    db: Path
    running: str
    claimed: str
    lapsed: str


@pytest.fixture
def filled(tmp_path: Path) -> FilledQueue:
    """Campaign ``demo``: sim-fast has 1 running (3 cycles streamed, a stop order), 1 claimed and 25
    queued; sim-slow has 1 lapsed claim, 1 done and 1 queued. Campaign ``other``: 1 queued."""
    db = tmp_path / "queue.db"
    store = Store(str(db))
    try:
        store.init()
        demo = factories.seed_campaign(store, "demo", n_designs=N_FAST + 3, sources=(FAST, SLOW))
        other = factories.seed_campaign(store, "other", n_designs=1, sources=(FAST,))
        for i in range(N_FAST):
            store.create_request(factories.request("demo", demo.design_ids[i], source="sim-fast",
                                                   key=f"f{i}"))
        for i in range(3):
            store.create_request(factories.request("demo", demo.design_ids[N_FAST + i], source="sim-slow",
                                                   key=f"s{i}"))
        store.create_request(factories.request("other", other.design_ids[0], key="o0"))
        queue = WorkQueue(store, lease_s=600)
        (running,) = queue.claim("lab-1:pid=11", sources=["sim-fast"])
        queue.heartbeat(running)
        queue.stream(running, factories.observations(3))
        queue.order_stop(running.request_id, 4, "predicted to miss the target")
        (claimed,) = queue.claim("lab-2:pid=22", sources=["sim-fast"])
        (lapsed,) = WorkQueue(store, lease_s=0.05).claim(LAPSED_WORKER, sources=["sim-slow"])
        (done,) = queue.claim("lab-4:pid=44", sources=["sim-slow"])
        design = store.get_design(done.request.design_id).design
        queue.post(done, factories.result(SLOW, design))
        time.sleep(0.2)  # the lapsed claim is now past its expiry; nothing has re-queued it
    finally:
        store.close()
    return FilledQueue(db=db, running=running.request_id, claimed=claimed.request_id,
                       lapsed=lapsed.request_id)


def ok(db: Path, *args: str) -> Result:
    result = cli(db, *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def status_log(db: Path) -> list[tuple[str, str]]:
    store = Store(str(db))
    try:
        with store.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(
                "SELECT entity_id, status FROM status_log ORDER BY id")).all()]
    finally:
        store.close()


def test_the_table_shows_counts_leases_and_the_oldest_queued_by_source(filled: FilledQueue) -> None:
    before, log_before = counts(filled.db), status_log(filled.db)
    out = ok(filled.db, "queue").stdout
    assert re.search(r"sim-fast\s*│\s*26\s*│\s*1\s*│\s*1\s*│", out), out  # 25 of demo + 1 of other
    assert re.search(r"sim-slow\s*│\s*1\s*│\s*1\s*│\s*0\s*│", out), out
    for worker in ("lab-1:pid=11", "lab-2:pid=22", LAPSED_WORKER):
        assert worker in out
    assert "lab-4:pid=44" not in out  # its request is done
    assert "sim-fast: queued (oldest 20 of 26)" in out and "... and 6 more queued for sim-fast" in out
    assert re.search(r"lapsed \d+ s ago", out) and "cycle 4" in out
    # the viewer writes nothing, and in particular does not re-queue the lapsed claim
    assert counts(filled.db) == before and status_log(filled.db) == log_before
    store = Store(str(filled.db))
    try:
        assert store.get_request(filled.lapsed).status is RequestStatus.CLAIMED
    finally:
        store.close()


def test_json_lists_every_request_with_its_lease(filled: FilledQueue) -> None:
    data = json.loads(ok(filled.db, "queue", "--json").stdout)
    assert data["schema"] == "interphase.queue/1" and data["campaign"] is None and data["source"] is None
    assert data["totals"] == {"queued": 27, "claimed": 2, "running": 1}
    groups = {g["source"]: g for g in data["sources"]}
    assert list(groups) == ["sim-fast", "sim-slow"]
    assert groups["sim-fast"]["counts"] == {"queued": 26, "claimed": 1, "running": 1}
    assert groups["sim-slow"]["counts"] == {"queued": 1, "claimed": 1, "running": 0}
    assert len(groups["sim-fast"]["queued"]) == 26  # no listing cap in JSON
    held = {h["request_id"]: h for g in groups.values() for h in g["held"]}
    assert set(held) == {filled.running, filled.claimed, filled.lapsed}
    held_keys = {"request_id", "campaign", "status", "worker", "attempt", "lease_age_s", "heartbeat_age_s",
                 "expires_in_s", "cycles_streamed", "stop_after"}
    assert all(set(h) == held_keys for h in held.values())
    running, claimed, lapsed = held[filled.running], held[filled.claimed], held[filled.lapsed]
    assert (running["worker"], running["status"], running["attempt"]) == ("lab-1:pid=11", "running", 1)
    assert (running["cycles_streamed"], running["stop_after"]) == (3, 4)
    assert (claimed["worker"], claimed["status"]) == ("lab-2:pid=22", "claimed")
    assert claimed["cycles_streamed"] == 0 and claimed["stop_after"] is None
    assert lapsed["worker"] == LAPSED_WORKER and lapsed["expires_in_s"] < 0
    assert 0 < running["expires_in_s"] <= 600
    for h in held.values():
        assert h["lease_age_s"] >= 0 and h["heartbeat_age_s"] >= 0
    queued = [q for g in groups.values() for q in g["queued"]]
    assert all(set(q) == {"request_id", "campaign", "attempts", "waiting_s"} for q in queued)
    assert all(q["waiting_s"] >= 0 and q["attempts"] == 0 for q in queued)
    waits = [q["waiting_s"] for q in groups["sim-fast"]["queued"]]
    assert waits == sorted(waits, reverse=True)  # oldest first


def test_campaign_and_source_narrow_the_view(filled: FilledQueue) -> None:
    other = json.loads(ok(filled.db, "queue", "--campaign", "other", "--json").stdout)
    assert other["campaign"] == "other" and other["totals"] == {"queued": 1, "claimed": 0, "running": 0}
    slow = json.loads(ok(filled.db, "queue", "--campaign", "demo", "--source", "sim-slow", "--json").stdout)
    assert [g["source"] for g in slow["sources"]] == ["sim-slow"]
    assert slow["totals"] == {"queued": 1, "claimed": 1, "running": 0}
    out = ok(filled.db, "queue", "--source", "sim-fast", "--queued", "0").stdout
    assert "sim-slow" not in out and "lab-1:pid=11" in out
    assert "... and 26 more queued for sim-fast (raise --queued to list them)" in out


def test_an_unknown_campaign_or_source_is_an_error_that_names_it(filled: FilledQueue) -> None:
    missing = cli(filled.db, "queue", "--campaign", "nope")
    assert missing.exit_code == 2
    assert "no campaign named 'nope'" in missing.stderr and "demo" in missing.stderr
    unknown = cli(filled.db, "queue", "--source", "pybamm-nope", "--json")
    assert unknown.exit_code == 2 and "pybamm-nope" in unknown.stderr and unknown.stdout == ""


def test_an_empty_queue_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    ok(db, "db", "init")
    assert "the queue is empty" in ok(db, "queue").stdout
    data = json.loads(ok(db, "queue", "--json").stdout)
    assert data["sources"] == [] and data["totals"] == {"queued": 0, "claimed": 0, "running": 0}


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    result = cli(db, "queue")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert not db.exists()
