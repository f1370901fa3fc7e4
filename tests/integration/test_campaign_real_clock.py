"""The real clock: requests wait in the store for workers, cycles stream in, stops are orders, results arrive.

A short sei-life campaign (20-cycle horizon) paced at ten lab hours per wall second, served by
the campaign's own queue workers: simulations through the CPU worker, lab tests paced on their
channels. Its strategy stops some tests at cycle 10 from the cycles streamed so far.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interphase.agent.campaign import run_campaign
from interphase.agent.options import Option, Proposal, ScoredOption, StopOrder
from interphase.agent.plan import resolve
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CPU, CampaignView
from interphase.schema import InvalidInputError, canonical_hash
from interphase.schema.run_config import RunConfig
from interphase.sources.world import load_world
from interphase.store import Store
from interphase.store.queue import WorkQueue

pytestmark = pytest.mark.timeout(300)

TIME_SCALE = 36_000.0  # ten lab hours per wall second


class StreamedStopper(Strategy):
    """SPM simulations on the CPU worker, Sobol designs on the lab; stops half the tests at cycle 10."""

    name = "real-clock-test"
    review_every_cycles = 5

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        if resource == CPU:
            source = "pybamm-spm"
        elif resource == view.resource_of[view.highest_fidelity]:
            source = view.highest_fidelity
        else:
            return None
        start = len(view.runs_of(source))
        designs = view.design_space.sample_sobol(start + slots, seed=view.seed + len(source))[start:]
        chosen = tuple(ScoredOption(Option(source, d, view.protocol), value=0.5, cost=1.0, utility=0.5,
                                    why="test") for d in designs)
        return Proposal(chosen=chosen, reason=f"real-clock test: {len(chosen)} on {source}")

    def review(self, view: CampaignView) -> list[StopOrder]:
        return [StopOrder(r.request_id, r.cycles_done, "real-clock test: enough") for r in view.running
                if r.cycles_done >= 10 and canonical_hash(r.design.values)[-1] in "02468ace"]


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    from interphase.agent import strategy

    strategy.strategy_names()
    if StreamedStopper.name not in strategy._REGISTRY:
        register_strategy(StreamedStopper.name, StreamedStopper)


@pytest.fixture
def short_world(tmp_path: Path) -> Path:
    world = load_world("sei-life").model_dump(mode="json")
    world["name"] = "sei-short"
    world["protocol"]["n_cycles"] = 20
    world["target"] = {"bounds": [{"observable": "Capacity retention", "lower": 0.5}],
                       "objectives": [{"observable": "Capacity retention", "direction": "maximize"}]}
    path = tmp_path / "sei-short.yaml"
    path.write_text(yaml.safe_dump(world))
    return path


def test_a_real_clock_campaign_runs_on_its_own_workers(store: Store, short_world: Path) -> None:
    config = RunConfig(name="real", world=str(short_world), strategy=StreamedStopper.name, seed=3,
                       clock={"mode": "real", "time_scale": TIME_SCALE, "poll_seconds": 0.2},
                       stop={"max_runs": 8, "until_verified": False})
    outcome = run_campaign(store, resolve(config))
    assert outcome.runs >= 8 and outcome.status == "max_runs"
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
    config = RunConfig(name="real", world=str(short_world), strategy=StreamedStopper.name,
                       clock={"mode": "real", "local_workers": ["lab-cell", "nope"]})
    with pytest.raises(InvalidInputError, match="'nope' is not a source of this world") as caught:
        resolve(config)
    assert caught.value.field == "clock.local_workers"
