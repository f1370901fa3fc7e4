"""The interphase agent in a real campaign: model fits, lab tests, reviews that stop tests, replicates.

sei-life cut to a 20-cycle horizon (real emulated-lab cells and SPM solves, about a second each)
and a model small enough to fit in seconds. The settings force each path of a decision: with
``stop_below`` near 1 every reviewed test is stopped, with ``replicate_above`` near 0 every
reviewed test gets an early replicate. One backend (SQLite) suffices: the store's behaviour on
both is the contract suite's, and the engine's crash test runs on both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from interphase.agent.campaign import run_campaign
from interphase.agent.plan import resolve
from interphase.agent.strategies.interphase_agent import InterphaseAgent
from interphase.schema.run_config import RunConfig
from interphase.sources.world import load_world
from interphase.store import Store

pytestmark = pytest.mark.timeout(600)

LIGHT = {"members": 2, "epochs": 8, "warm_epochs": 4, "min_steps": 20, "min_simulations": 6,
         "max_simulations": 6, "candidates": 64, "local_moves": 2, "n_samples": 2, "review_every_cycles": 5,
         "first_review": 5, "replicate_after_cycles": 5, "min_full_tests": 2, "min_reference": 2,
         "reference_cpu_seconds": 4.0, "shortlist_rounds": 1}  # SPMe's 20 cycles: 3.4 CPU s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store on a fresh SQLite file."""
    opened = Store(f"sqlite:///{tmp_path / 'agent.db'}")
    opened.init()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def short_world(tmp_path: Path) -> Path:
    """sei-life with a 20-cycle horizon and a retention bound that most 20-cycle cells meet."""
    world = load_world("sei-life").model_dump(mode="json")
    world["name"] = "sei-short"
    world["protocol"]["n_cycles"] = 20
    world["target"]["bounds"] = [{"observable": "Capacity retention", "lower": 0.97}]
    path = tmp_path / "sei-short.yaml"
    path.write_text(yaml.safe_dump(world))
    return path


def _campaign(store: Store, world: Path, name: str, max_runs: int = 20, **agent: Any) -> Any:
    config = RunConfig(name=name, world=str(world), strategy="interphase", seed=3, agent={**LIGHT, **agent},
                       budget={"lab_hours": 600}, stop={"max_runs": max_runs})
    return run_campaign(store, resolve(config))


def test_reviews_stop_tests_whose_forecast_misses(store: Store, short_world: Path) -> None:
    outcome = _campaign(store, short_world, "agent-stops", stop_below=0.999)
    decisions = store.list_decisions("agent-stops")
    stops = [d for d in decisions if d.chosen["kind"] == "stop"]
    assert stops, [d.reason for d in decisions]
    for stop in stops:
        forecast = stop.chosen["predicted"]["Capacity retention"]
        assert stop.chosen["after_cycle"] >= LIGHT["first_review"]
        if "already below" in stop.reason:  # the cell's retention fell under the bound: it cannot recover
            assert forecast["mean"] < 0.97 and forecast["p_meet"] == 0.0
        elif "own fade" in stop.reason:  # where its own fade heads (test_own_fade_...)
            assert forecast["p_meet"] < 0.02
        else:  # a forecast from its first cycles, once two tests ran to the horizon
            assert "P(meet)" in stop.reason and forecast["p_meet"] < 0.999
            assert 0.0 < forecast["mean"] <= 1.05 and forecast["q05"] < forecast["mean"] < forecast["q95"]
            full = [r for r in store.list_results(campaign="agent-stops")
                    if "meets_target" in r.result.metadata]
            assert len(full) >= LIGHT["min_full_tests"]
    stopped = [r for r in store.list_results(campaign="agent-stops") if r.result.metadata.get("stopped_by")]
    assert {r.request_id for r in stopped} <= {s.chosen["request_id"] for s in stops}
    assert all((r.result.cycles_run or 0) < 20 for r in stopped)
    # A design whose cell was stopped is not launched again: new launches are new designs.
    launched = [r["design_id"] for d in decisions if d.chosen["kind"] == "launch" for r in d.chosen["runs"]
                if r["source"] == "lab-cell" and not r.get("replicate_of")]
    assert len(set(launched)) == len(launched)
    assert outcome.status in ("verified", "max_runs", "budget", "exhausted")


def test_own_fade_stops_tests_before_any_lab_test_ran_the_horizon(store: Store, short_world: Path) -> None:
    # The model's forecasts wait for 99 full-length tests; a test's own fade, calibrated on the
    # reference's 20-cycle runs (two suffice here), stops every test it can read.
    _campaign(store, short_world, "agent-fade", max_runs=15, stop_below=0.0, own_stop_below=0.999,
              min_full_tests=99, fade_min_runs=2)
    decisions = store.list_decisions("agent-fade")
    stops = [d for d in decisions if d.chosen["kind"] == "stop"]
    fade = [d for d in stops if "own fade" in d.reason]
    assert fade, [d.reason for d in decisions]
    assert all("already below" in d.reason for d in stops if d not in fade)  # no model forecast yet
    results = {r.request_id: r for r in store.list_results(campaign="agent-fade")}
    for stop in fade:
        forecast = stop.chosen["predicted"]["Capacity retention"]
        # Its fade is fitted from cycle 5 on, with five cycles at least.
        assert 9 <= stop.chosen["after_cycle"] < 20
        assert 0.0 <= forecast["p_meet"] < 0.999 and 0.5 < forecast["mean"] < 1.0 and forecast["std"] > 0.0
        stopped = results.get(stop.chosen["request_id"])
        if stopped is not None:  # it heads below where it stood when it was stopped
            last = [o.value for o in stopped.result.observations if o.observable == "Capacity retention"][-1]
            assert forecast["mean"] <= last + 0.003


class _Enough(Exception):
    """Ends a campaign at the moment a test wants to look at."""


def test_a_replicate_of_a_test_heading_for_a_hit_takes_the_channel_of_the_test_worth_least(
        store: Store, short_world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The campaign runs until every channel holds a test read from its own fade (the review asks
    # no replicate by itself: replicate_above 1); then one test is wished a replicate at 0.99.
    review = InterphaseAgent.review
    caught: dict[str, Any] = {}

    def reviewed(agent: InterphaseAgent, view: Any) -> Any:
        lab = [r for r in view.running if r.source == view.highest_fidelity]
        if agent.surrogate is not None and len(lab) >= 2 and all(r.cycles_done >= 10 for r in lab) \
                and view.free[view.resource_of[view.highest_fidelity]] == 0:
            caught.update(agent=agent, view=view)
            raise _Enough
        return review(agent, view)

    monkeypatch.setattr(InterphaseAgent, "review", reviewed)
    with pytest.raises(_Enough):
        _campaign(store, short_world, "agent-room", max_runs=30, replicate_above=1.0, own_stop_below=0.0,
                  fade_min_runs=2)
    agent, view = caught["agent"], caught["view"]
    lab = [r for r in view.running if r.source == view.highest_fidelity]
    wished = lab[0]
    agent.replicate_wanted = {wished.design_id: (wished.design, 0.99)}
    orders = [o for o in review(agent, view) if "free its channel" in o.reason]
    assert len(orders) == 1, [o.reason for o in review(agent, view)]
    order = orders[0]
    assert order.request_id in {r.request_id for r in lab[1:]}  # never the test heading for the hit
    forecast = order.predicted["Capacity retention"]
    assert "against 0.99 over" in order.reason and 0.0 <= forecast["p_meet"] < 0.99
    assert 0.9 < forecast["mean"] < 1.0  # where its own fade was heading
    agent.options["make_room"] = False
    assert not [o for o in review(agent, view) if "free its channel" in o.reason]
    # By default (the ledger's agent) the replicate carries no forecast of its own.
    plain = agent._early_replicates(view, view.highest_fidelity, 1)[0]
    assert plain.option.replicate_of == wished.design_id and plain.predicted == {}
    assert plain.why == "early replicate: its running test forecasts P(meet) 0.99"
    assert agent.replicate_wanted == {}  # asked once
    # replicate_misses "new-cell": it carries the agent's forecast for a new cell of the design,
    # which the track record sets its outcome against, beside its running test's P(meet).
    agent.options["replicate_misses"] = "new-cell"
    agent.replicate_wanted = {wished.design_id: (wished.design, 0.99)}
    replicate = agent._early_replicates(view, view.highest_fidelity, 1)[0]
    p_meet, mean, _, _, p_verify, bias = agent._lab_scores(view, [wished.design])
    entry = replicate.predicted["Capacity retention"]
    assert replicate.option.replicate_of == wished.design_id and replicate.value == 0.99
    assert entry["p_meet"] == pytest.approx(float(p_meet[0]))
    assert entry["mean"] == pytest.approx(float(mean[0]))
    assert entry["p_verify"] == pytest.approx(float(p_verify[0]))
    assert entry["raw_mean"] == pytest.approx(float(mean[0] - bias[0]))
    assert f"P(meet) 0.99, a new cell of the design {entry['p_meet']:.2f}" in replicate.why
    assert agent.replicate_wanted == {}  # asked once


def test_lab_launches_carry_forecasts_runners_up_and_thinking_time(
        store: Store, short_world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each review's replicate wishes are read as the engine leaves them (the first round fills
    # every channel, so a wish may wait until verification takes over).
    asked: list[tuple[int, int, float]] = []  # (cycles done, full-length tests then, P(meet))
    last: dict[str, Any] = {}  # the agent and the view of the last review
    review = InterphaseAgent.review

    def reviewed(agent: InterphaseAgent, view: Any) -> Any:
        last.update(agent=agent, view=view)
        before = set(agent.replicate_wanted)
        orders = review(agent, view)
        for design_id in set(agent.replicate_wanted) - before:
            run = next(r for r in view.running if r.design_id == design_id)
            asked.append((run.cycles_done, agent._full_tests(view), agent.replicate_wanted[design_id][1]))
        return orders

    monkeypatch.setattr(InterphaseAgent, "review", reviewed)
    # 28 runs leave room for the shortlist's runs before the first early replicate.
    outcome = _campaign(store, short_world, "agent-launches", max_runs=28, replicate_above=0.01,
                        own_stop_below=0.0, fade_min_runs=2)
    decisions = store.list_decisions("agent-launches")
    lab = [d for d in decisions
           if d.chosen["kind"] == "launch" and d.chosen["runs"][0]["source"] == "lab-cell"]
    assert lab
    first = lab[0]
    forecast = first.chosen["runs"][0]["predicted"]["Capacity retention"]
    assert 0.0 <= forecast["p_meet"] <= 1.0 and math.isfinite(forecast["mean"])
    # Two cells must meet the target to verify a design: never likelier than one cell doing so.
    fresh = [r for d in lab for r in d.chosen["runs"] if not r.get("replicate_of")]
    assert all(0.0 <= r["predicted"]["Capacity retention"]["p_verify"]
               <= r["predicted"]["Capacity retention"]["p_meet"] + 1e-9 for r in fresh)
    assert first.runners_up and "lab hours" in first.reason
    # Launch forecasts come from the nearest affordable simulator, space-filled before the first fit.
    assert "forecast from pybamm-spme" in first.reason
    spme = [r for d in decisions if d.chosen["kind"] == "launch" for r in d.chosen["runs"]
            if r["source"] == "pybamm-spme"]
    assert len(spme) >= LIGHT["min_reference"]
    assert all(d.chosen["decide_seconds"] >= 0.0 for d in decisions if d.chosen["kind"] == "launch")
    sims = [d for d in decisions if d.chosen["kind"] == "launch" and d.chosen["resource"] == "cpu"]
    # The cheapest simulator space-fills; the reference (space-filled too) takes the refinements.
    shortlist = [d for d in sims if "would test next" in d.reason]
    cpu_runs = [r["source"] for d in sims if d not in shortlist for r in d.chosen["runs"]]
    assert cpu_runs.count("pybamm-spm") <= LIGHT["min_simulations"]
    assert cpu_runs.count("pybamm-spme") <= LIGHT["max_simulations"]
    # Simulate before you build: the lab's picks ran on the reference first, then the pick was
    # made again; the lab launches what the reference ran, or new picks after the last round.
    assert shortlist and all(r["source"] == "pybamm-spme" for d in shortlist for r in d.chosen["runs"])
    simulated = {r["design_id"]: d.chosen["clock_h"] for d in sims for r in d.chosen["runs"]
                 if r["source"] == "pybamm-spme"}
    launched_h = {r["design_id"]: d.chosen["clock_h"] for d in lab for r in d.chosen["runs"]
                  if not r.get("replicate_of")}
    assert any(simulated.get(key, math.inf) <= at for key, at in launched_h.items()), shortlist[0].reason
    rounds = [int(d.reason.split("(round ")[1].split(" ")[0]) for d in shortlist]
    assert max(rounds) <= LIGHT["shortlist_rounds"]
    early = [r for d in lab for r in d.chosen["runs"] if r.get("replicate_of")]
    # A forecast above 0.01 asks a replicate for the next free channel: the test's own fade does
    # before the model can (its forecast waits for min_full_tests full-length lab tests).
    assert asked, [d.reason for d in decisions]
    assert all(cycles >= LIGHT["replicate_after_cycles"] and 0.01 < p <= 1.0 for cycles, _, p in asked)
    assert any(full < LIGHT["min_full_tests"] for _, full, _ in asked), asked
    early = [r for d in lab for r in d.chosen["runs"] if r.get("replicate_of")]
    assert all("early replicate" in r["why"] for r in early)
    assert outcome.runs == len(store.list_results(campaign="agent-launches"))
    # The track record leaves replicates out by default; "first-launch" sets each finished one
    # against the launch forecast of its design's first test.
    agent, view = last["agent"], last["view"]
    replicates = [c for c in view.completed if c.source == "lab-cell" and c.replicate_of is not None
                  and c.result.metadata.get("failure_cause") != "assembly defect"]  # a build's fault
    agent._record = None
    left_out = agent._track(view)[0]
    agent.options["replicate_misses"], agent._record = "first-launch", None
    counted = agent._track(view)[0]
    assert counted.misses.size == left_out.misses.size + len(replicates)
    first = {r["design_id"]: r["predicted"]["Capacity retention"] for d in lab for r in d.chosen["runs"]
             if not r.get("replicate_of")}
    assert set(counted.forecasts) - set(left_out.forecasts) <= {first[c.replicate_of]["raw_mean"]
                                                                for c in replicates}
    # cell_scatter "replicates": the same misses, none trusted closer than the scatter of the
    # cells of a design tested twice (the default trusts a full-length test to a tenth of the scale).
    # The scatter is measured on the lab cells that ended without failing (those whose outcome can
    # be read), grouped by design.
    from interphase.agent.strategies import interphase_agent
    from interphase.agent.track_record import pooled_std

    measured: list[tuple[list[list[float]], float | None]] = []

    def spy(groups: list[list[float]]) -> float | None:
        measured.append((groups, pooled_std(groups)))
        return measured[-1][1]

    monkeypatch.setattr(interphase_agent, "pooled_std", spy)
    agent.options["cell_scatter"], agent._record = "replicates", None
    scattered = agent._track(view)[0]
    (groups, scatter), = measured
    ended = [c for c in view.completed if c.source == "lab-cell" and c.result.status.value != "failed"]
    assert 0 < sum(len(g) for g in groups) <= len(ended)
    assert len(groups) <= len({c.design_id for c in ended})
    assert scattered.misses.tolist() == counted.misses.tolist()
    floor = counted.noise_std if scatter is None else np.maximum(counted.noise_std, scatter)
    assert scattered.noise_std.tolist() == pytest.approx(floor.tolist())
    # Whether this short campaign holds a design with two ended cells is up to its cells; a scatter
    # wider than any doubt (0.5 in retention) shows the floor reaches every miss either way.
    monkeypatch.setattr(interphase_agent, "pooled_std", lambda groups: 0.5)
    agent._record = None
    assert agent._track(view)[0].noise_std.tolist() == pytest.approx([0.5] * counted.misses.size)



def test_a_world_with_one_simulator_forecasts_from_it_and_simulates_each_pick_first(store: Store) -> None:
    """electrolyte-conductivity: conductivity at a temperature, no per-cycle observable, one simulator."""
    config = RunConfig(name="agent-robot", world="electrolyte-conductivity", strategy="interphase", seed=1,
                       agent={**LIGHT, "min_simulations": 8}, budget={"lab_hours": 4}, stop={"max_runs": 30})
    run_campaign(store, resolve(config))
    decisions = store.list_decisions("agent-robot")
    lab = [d for d in decisions if d.chosen["kind"] == "launch" and d.chosen["resource"] != "cpu"]
    assert lab and all("forecast from electrolyte-empirical" in d.reason for d in lab), lab[0].reason
    forecast = lab[0].chosen["runs"][0]["predicted"]["Conductivity [S.m-1]"]
    assert 0.0 < forecast["mean"] < 2.0 and forecast["raw_mean"] == forecast["mean"]  # S/m; no miss yet
    first = [d for d in decisions if "would test next" in d.reason]
    assert first and decisions.index(first[0]) < decisions.index(lab[0])


def test_a_lab_without_simulators_fills_the_space_with_cells_then_the_model_picks(
        store: Store, short_world: Path) -> None:
    """A cycler and a post-mortem only: a first round of space-filling cells, then the model's picks."""
    world = yaml.safe_load(short_world.read_text())
    world["sources"] = {name: world["sources"][name] for name in ("lab-cell", "post-mortem")}
    short_world.write_text(yaml.safe_dump(world))
    config = RunConfig(name="agent-lab-only", world=str(short_world), strategy="interphase", seed=3,
                       agent=LIGHT, budget={"lab_hours": 2000},
                       stop={"max_runs": 10, "until_verified": False})
    outcome = run_campaign(store, resolve(config))
    launches = [d.chosen for d in store.list_decisions("agent-lab-only") if d.chosen["kind"] == "launch"]
    assert outcome.runs == 10 and set(outcome.by_source) == {"lab-cell"}
    assert launches[0]["scores"]["phase"] == "space-filling" and len(launches[0]["runs"]) == 4
    assert launches[0]["resource"] == "lab-cell"
    later = [run for chosen in launches if chosen["scores"].get("phase") != "space-filling"
             for run in chosen["runs"] if not run["replicate_of"]]  # early replicates carry no forecast
    assert later and all(0.0 < run["predicted"]["Capacity retention"]["p_meet"] <= 1.0 for run in later)
