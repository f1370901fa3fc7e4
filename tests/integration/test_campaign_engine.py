"""The campaign engine on real sources and a real store: the event clock, decisions, stops, verification.

Worlds: the conductivity one (real robot data, half-hour tests) and sei-life cut to a 20-cycle
horizon (real emulated-lab cells in about a second each), both through ``interphase run``'s
code path (``resolve`` then ``run_campaign``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interphase.agent.campaign import resume_campaign, run_campaign
from interphase.agent.options import Option, Proposal, ScoredOption, StopOrder
from interphase.agent.plan import resolve
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CPU, CampaignView
from interphase.schema.run_config import RunConfig
from interphase.store import Store
from support.cli import cli
from support.short_campaigns import write_short_world

pytestmark = pytest.mark.timeout(300)


class StopAfterTen(Strategy):
    """Sobol-ish designs on the lab; stops every test after its tenth cycle."""

    name = "engine-test-stopper"
    review_every_cycles = 5

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        if resource != view.resource_of[view.highest_fidelity]:
            return None
        start = len(view.runs_of(view.highest_fidelity))
        designs = view.design_space.sample_sobol(start + slots, seed=view.seed)[start:]
        chosen = tuple(ScoredOption(Option(view.highest_fidelity, d, view.protocol), value=0.5, cost=1.0,
                                    utility=0.5, why="test") for d in designs)
        return Proposal(chosen=chosen, reason="engine test: next designs")

    def review(self, view: CampaignView) -> list[StopOrder]:
        return [StopOrder(r.request_id, r.cycles_done, "engine test: enough") for r in view.running
                if r.cycles_done >= 10]


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    from interphase.agent import strategy

    strategy.strategy_names()  # the built-ins first
    if StopAfterTen.name not in strategy._REGISTRY:
        register_strategy(StopAfterTen.name, StopAfterTen)


@pytest.fixture
def short_world(tmp_path: Path) -> Path:
    """sei-life with a 20-cycle horizon and a target a 20-cycle cell can meet."""
    return write_short_world(tmp_path)


def _run(store: Store, **config: Any) -> Any:
    return run_campaign(store, resolve(RunConfig(**config)))


def test_a_verified_design_has_its_replicates_and_every_decision_is_on_record(store: Store) -> None:
    outcome = _run(store, name="engine", world="electrolyte-conductivity", strategy="trial-and-error", seed=1,
                   stop={"replicates": 2}, budget={"lab_hours": 400})
    decisions = store.list_decisions("engine")
    kinds = [d.chosen["kind"] for d in decisions]
    assert kinds[-1] == "finished" and kinds.count("finished") == 1
    results = store.list_results(campaign="engine")
    assert outcome.runs == len(results)
    if outcome.status == "verified":
        verified = next(d.chosen for d in decisions if d.chosen["kind"] == "verified")
        hits = [r for r in results if r.design_id == verified["design_id"]]
        assert len(hits) >= 2 and all(r.result.metadata["meets_target"] for r in hits)
        assert verified["clock_h"] == pytest.approx(outcome.discovery_h)
        assert "replicate" in kinds  # the engine queued the verification itself
    for result in results:  # every result knows when it ran on the campaign's clock
        clock = result.result.metadata["campaign_clock"]
        # a refused run: 0 h
        assert 0.0 <= clock["started_h"] <= clock["finished_h"] <= outcome.clock_h + 1e-9
        assert clock["finished_h"] - clock["started_h"] == pytest.approx(result.result.cost.lab_hours)
    for decision in decisions:
        assert decision.reason  # one line for people, always
    # at most four tests at once: the robot's channels
    clocks = [r.result.metadata["campaign_clock"] for r in results]
    spans = sorted((c["started_h"], c["finished_h"]) for c in clocks)
    for start, _ in spans:
        assert sum(1 for s, f in spans if s <= start + 1e-9 < f) <= 4


def test_a_budget_ends_the_campaign_and_a_resume_of_a_finished_one_changes_nothing(store: Store) -> None:
    outcome = _run(store, name="budget", world="electrolyte-conductivity", strategy="trial-and-error", seed=2,
                   stop={"until_verified": False}, budget={"lab_hours": 6})
    assert outcome.status == "budget"
    assert outcome.spent["lab_hours"] <= 6 + 4 * 0.5  # the last batch may start just under the budget
    counts = store.counts()
    again = resume_campaign(store, "budget")
    assert store.counts() == counts
    assert (again.status, again.runs, again.clock_h) == (outcome.status, outcome.runs, outcome.clock_h)


def test_a_stopped_test_keeps_its_cycles_and_costs_only_its_hours(store: Store, short_world: Path) -> None:
    outcome = _run(store, name="stops", world=str(short_world), strategy=StopAfterTen.name, seed=0,
                   stop={"max_runs": 4, "until_verified": False})
    stops = [d.chosen for d in store.list_decisions("stops") if d.chosen["kind"] == "stop"]
    results = {r.request_id: r.result for r in store.list_results(campaign="stops")}
    assert outcome.runs == 4 and stops
    for stop in stops:
        result = results[stop["request_id"]]
        assert result.status.value == "stopped" and result.cycles_run == stop["after_cycle"] == 10
        cycles = sorted({o.index for o in result.observations if o.index_unit == "cycle"})
        assert cycles == list(range(1, 11))
        clock = result.metadata["campaign_clock"]
        assert clock["finished_h"] == pytest.approx(stop["clock_h"])
        assert result.cost.lab_hours < 24 + 20 * 2  # formation plus ten cycles, not twenty
        assert "meets_target" not in result.metadata  # a stopped test is no candidate


def test_max_runs_caps_a_proposal_that_would_overshoot_it(store: Store, short_world: Path) -> None:
    outcome = _run(store, name="capped", world=str(short_world), strategy=StopAfterTen.name, seed=0,
                   stop={"max_runs": 3, "until_verified": False})
    (launch, *_) = [d.chosen for d in store.list_decisions("capped") if d.chosen["kind"] == "launch"]
    assert outcome.status == "max_runs" and outcome.runs == 3
    assert len(launch["runs"]) == 3  # offered three slots, not the lab's free channels
    assert len(store.list_requests(campaign="capped")) == 3


def test_simulations_use_cpu_workers_and_lab_tests_channels(store: Store) -> None:
    plan = resolve(RunConfig(name="resources", world="sei-life", strategy="trial-and-error"))
    assert plan.resource_of["pybamm-spm"] == CPU and plan.resource_of["lab-cell"] == "lab-cell"
    assert plan.capacity == {"lab-cell": 4, "post-mortem": 2, CPU: 2}


def test_the_cli_runs_a_campaign_and_writes_its_report(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("name: cli-run\nworld: electrolyte-conductivity\nstrategy: gp-qlogei\nseed: 4\n"
                      "budget: {lab_hours: 40}\n")
    db = tmp_path / "cli.db"
    result = cli(db, "run", str(config), "--quiet", "--report", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and (tmp_path / "report" / "report.html").exists()
    again = cli(db, "resume", "cli-run", "--quiet", "--report", str(tmp_path / "report"))
    assert again.exit_code == 0, again.output
    missing = cli(db, "resume", "no-such-campaign", "--quiet")
    assert missing.exit_code == 2 and "no-such-campaign" in missing.output


class StopReplicates(Strategy):
    """One design on the lab, tested once; every replicate of it is stopped after five cycles."""

    name = "engine-test-replicate-stopper"
    review_every_cycles = 5

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        if resource != view.resource_of[view.highest_fidelity] or view.runs_of(view.highest_fidelity):
            return None
        design = view.design_space.sample_sobol(1, seed=view.seed)[0]
        option = ScoredOption(Option(view.highest_fidelity, design, view.protocol), value=0.5, cost=1.0,
                              utility=0.5, why="test")
        return Proposal(chosen=(option,), reason="engine test: one design")

    def review(self, view: CampaignView) -> list[StopOrder]:
        return [StopOrder(r.request_id, r.cycles_done, "engine test: this replicate will not meet it")
                for r in view.running if r.replicate_of is not None and r.cycles_done >= 5]


def test_a_stopped_replicate_ends_the_verification_of_its_design(store: Store, short_world: Path) -> None:
    from interphase.agent import strategy

    if StopReplicates.name not in strategy._REGISTRY:
        register_strategy(StopReplicates.name, StopReplicates)
    outcome = _run(store, name="replicate-stops", world=str(short_world), strategy=StopReplicates.name,
                   seed=0, stop={"replicates": 3, "max_runs": 12})
    decisions = [d.chosen for d in store.list_decisions("replicate-stops")]
    replicates = [run for d in decisions if d["kind"] == "replicate" for run in d["runs"]]
    stops = [d for d in decisions if d["kind"] == "stop"]
    # The first test meets the 20-cycle target, so the engine asks for two replicates at once; the
    # strategy stops them, and the design is no hit any more: no third, fourth, ... replicate.
    assert len(replicates) == 2 and len(stops) == 2
    assert outcome.status != "verified" and outcome.runs == 3


def test_an_engine_whose_campaign_was_taken_over_stops_before_its_next_write(store: Store) -> None:
    from interphase.store import LeaseLostError
    from interphase.store.leases import acquire_lease, current_lease

    taken: dict[str, Any] = {}

    def take_over(view: CampaignView) -> None:
        if view.decisions >= 2 and not taken:  # another process takes the campaign mid-run
            taken["lease"] = acquire_lease(store, "taken", take_over=True)
            taken["counts"] = store.counts()

    plan = resolve(RunConfig(name="taken", world="electrolyte-conductivity", strategy="trial-and-error",
                             seed=1, stop={"until_verified": False}, budget={"lab_hours": 40}))
    with pytest.raises(LeaseLostError, match="campaign 'taken' was taken over by process"):
        run_campaign(store, plan, on_event=take_over)
    assert store.counts() == taken["counts"]  # the write that found the lease gone was undone
    assert current_lease(store, "taken") == taken["lease"]  # and the new holder keeps it


def test_resume_says_that_run_starts_a_campaign_the_store_lacks(tmp_path: Path) -> None:
    missing = cli(tmp_path / "none.db", "resume", "crash", "--quiet")
    assert missing.exit_code == 2
    assert "no campaign 'crash' to resume" in missing.stderr and "does not exist" in missing.stderr
    assert "'interphase run CONFIG' starts" in missing.stderr and "db init" not in missing.stderr
    assert not (tmp_path / "none.db").exists()  # no empty file left behind

    (tmp_path / "empty.db").touch()  # a run killed before it created the schema
    empty = cli(tmp_path / "empty.db", "resume", "crash", "--quiet")
    assert empty.exit_code == 2 and "db init" not in empty.stderr
    assert "has no interphase schema yet; 'interphase run CONFIG' starts" in empty.stderr

    config = tmp_path / "run.yaml"
    config.write_text("name: kept\nworld: electrolyte-conductivity\nstrategy: trial-and-error\nseed: 1\n"
                      "stop: {until_verified: false}\nbudget: {lab_hours: 2}\n")
    db = tmp_path / "kept.db"
    assert cli(db, "run", str(config), "--quiet", "--report", str(tmp_path / "report")).exit_code == 0
    other = cli(db, "resume", "crash", "--quiet")
    assert other.exit_code == 2
    assert other.stderr.strip() == ("error: no campaign named 'crash'; known: kept; "
                                    "'interphase run CONFIG' starts a campaign")
