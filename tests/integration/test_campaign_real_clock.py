"""The real clock: requests wait in the store for workers, cycles stream in, stops are orders, results arrive.

A short sei-life campaign (20-cycle horizon) paced at ten lab hours per wall second, served by
the campaign's own queue workers: simulations through the CPU worker, lab tests paced on their
channels. Its strategy stops some tests at cycle 10 from the cycles streamed so far.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interphase.agent.campaign import run_campaign
from interphase.agent.plan import resolve
from interphase.schema import InvalidInputError
from interphase.schema.run_config import RunConfig
from interphase.store import Store
from interphase.store.queue import WorkQueue
from support.short_campaigns import SimulateThenTest, register, write_short_world

pytestmark = pytest.mark.timeout(300)

TIME_SCALE = 36_000.0  # ten lab hours per wall second


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    register(SimulateThenTest)


@pytest.fixture
def short_world(tmp_path: Path) -> Path:
    return write_short_world(tmp_path)


def test_a_real_clock_campaign_runs_on_its_own_workers(store: Store, short_world: Path) -> None:
    config = RunConfig(name="real", world=str(short_world), strategy=SimulateThenTest.name, seed=3,
                       clock={"mode": "real", "time_scale": TIME_SCALE, "poll_seconds": 0.2},
                       stop={"max_runs": 8, "until_verified": False})
    outcome = run_campaign(store, resolve(config))
    assert outcome.runs == 8 and outcome.status == "max_runs"  # a proposal never overshoots the limit
    decisions = store.list_decisions("real")
    arrived = {d.chosen["request_id"]: d.chosen for d in decisions if d.chosen["kind"] == "arrived"}
    stops = {d.chosen["request_id"]: d.chosen for d in decisions if d.chosen["kind"] == "stop"}
    results = {r.request_id: r for r in store.list_results(campaign="real")}
    assert set(arrived) == set(results) and len(results) == outcome.runs
    stopped = [r for r in results.values() if r.result.status.value == "stopped"]
    assert stopped, "no test stopped from its streamed cycles"
    queue = WorkQueue(store)
    for request in store.list_requests("real"):
        history = [e.status for e in store.status_history(request.id)]
        assert history[:2] == ["queued", "claimed"] and history.count("claimed") == 1
        result = results[request.id].result
        if request.id in stops:
            assert "stop-ordered" in history
        if result.status.value == "stopped":  # the worker read the order at a heartbeat, kept the cycles run
            # cycles may stream between the review and the heartbeat that reads the order; they ran
            assert stops[request.id]["after_cycle"] <= result.cycles_run < 20 and history[-1] == "stopped"
            assert arrived[request.id]["stopped"] is True and arrived[request.id]["meets_target"] is None
        if request.source == "lab-cell":
            attempt, streamed = queue.streamed(request.id)
            assert attempt == 1 and streamed  # cycles arrived while it ran
            cycles = sorted({o.index for o in result.observations if o.index_unit == "cycle"})
            assert {o.index for o in streamed} <= set(cycles)
        assert arrived[request.id]["clock_h"] >= arrived[request.id]["started_h"]
    lab = [r for r in results.values() if r.result.source == "lab-cell" and r.request_id not in stops]
    for run in lab:  # a full test arrives no sooner than its lab hours after it was launched
        entry = arrived[run.request_id]
        assert entry["clock_h"] - entry["started_h"] >= 0.9 * run.result.cost.lab_hours


def test_local_workers_must_name_sources_of_the_world(short_world: Path) -> None:
    config = RunConfig(name="real", world=str(short_world), strategy=SimulateThenTest.name,
                       clock={"mode": "real", "local_workers": ["lab-cell", "nope"]})
    with pytest.raises(InvalidInputError, match="'nope' is not a source of this world") as caught:
        resolve(config)
    assert caught.value.field == "clock.local_workers"
