"""The three baseline strategies on real data: trial and error, GP qLogEI, multi-fidelity GP.

Each view is built by hand over a real SQLite store, its finished runs produced by the real
sources of the ``electrolyte-conductivity`` world (the Münster robot's measured table, and
the empirical model), stored through the store's request and result API as the engine does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from interphase.agent.strategies.trial_and_error import TargetRegion
from interphase.agent.strategy import make_strategy, strategy_names
from interphase.agent.target import TargetCheck
from interphase.agent.view import CPU, CampaignView, CompletedRun, RunningTest
from interphase.schema import CampaignSpec, Design, Protocol, Request, ResultStatus
from interphase.sources import Source, world_sources
from interphase.sources.world import World, load_world
from interphase.store import Store

pytestmark = pytest.mark.timeout(300)

ROBOT = "hte-robot"
EMPIRICAL = "electrolyte-empirical"
CONDUCTIVITY = "Conductivity [S.m-1]"
COLD_K = 253.15
BASELINES = ("trial-and-error", "gp-qlogei", "mf-gp")


@dataclass
class Campaign:
    """A campaign's world, sources and store, and the runs made so far (what a view is built from)."""

    world: World
    sources: dict[str, Source]
    store: Store
    protocol: Protocol
    seed: int
    completed: list[CompletedRun] = field(default_factory=list)
    running: list[RunningTest] = field(default_factory=list)
    launches: int = 0

    @property
    def resource_of(self) -> dict[str, str]:
        return {name: (name if source.channels else CPU) for name, source in self.sources.items()}

    @property
    def capacity(self) -> dict[str, int]:
        slots = {name: int(source.channels) for name, source in self.sources.items() if source.channels}
        return {**slots, CPU: self.world.resources.cpu_workers}

    def _request(self, source: str, design: Design) -> tuple[str, str]:
        design_id = self.store.add_designs("campaign", [design])[0].id
        self.launches += 1
        request = self.store.create_request(Request(
            campaign="campaign", design_id=design_id, source=source, protocol=self.protocol,
            seed=self.launches, idempotency_key=f"launch-{self.launches}"))
        return request.id, design_id

    def finish(self, source: str, design: Design) -> CompletedRun:
        """Run ``design`` on the real ``source``, store its result, and add it to the finished runs."""
        request_id, design_id = self._request(source, design)
        result = self.sources[source].run(design, self.protocol, seed=self.launches)
        self.store.submit_result(result, idempotency_key=f"result-{self.launches}", request_id=request_id)
        run = CompletedRun(request_id=request_id, design_id=design_id, design=design, source=source,
                           result=result, started_h=0.0, finished_h=0.5, meets_target=None)
        self.completed.append(run)
        return run

    def launch(self, source: str, design: Design) -> RunningTest:
        """Queue ``design`` on ``source`` and add it to the running tests."""
        request_id, design_id = self._request(source, design)
        test = RunningTest(request_id=request_id, design_id=design_id, design=design, source=source,
                           protocol=self.protocol, started_h=0.0, expected_end_h=0.5, cycles_done=0)
        self.running.append(test)
        return test

    def view(self, free: dict[str, int] | None = None) -> CampaignView:
        """The campaign now, as the engine shows it to a strategy."""
        target = self.world.target
        assert target is not None
        measured = [name for name, source in self.sources.items()
                    if target.objectives[0].observable in source.spec.observables]
        highest = max(measured, key=lambda name: (self.sources[name].spec.fidelity, name))
        busy = {resource: 0 for resource in self.capacity}
        for test in self.running:
            busy[self.resource_of[test.source]] += 1
        return CampaignView(
            campaign="campaign", store=self.store, design_space=self.world.design_space,
            protocol=self.protocol, target=target, check=TargetCheck(target, self.protocol.n_cycles, 2),
            sources={name: source.spec for name, source in self.sources.items()},
            resource_of=self.resource_of,
            estimate_cost=lambda s, d, p: self.sources[s].estimate_cost(d, p),
            highest_fidelity=highest, clock_h=0.5 * len(self.completed), completed=list(self.completed),
            running=list(self.running),
            free=free or {r: self.capacity[r] - busy[r] for r in self.capacity},
            capacity=self.capacity, seed=self.seed)


def open_campaign(world: World, path: Path, seed: int = 7,
                  protocol: Protocol | None = None) -> Iterator[Campaign]:
    """A campaign over a new SQLite store in ``path``, every source of ``world`` registered."""
    path.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{path / 'interphase.db'}")
    store.init()
    protocol = protocol or world.protocol
    sources = world_sources(world)
    store.create_campaign(CampaignSpec(name="campaign", design_space=world.design_space, protocol=protocol,
                                       target=world.target, sources=tuple(sources), seed=seed))
    for source in sources.values():
        store.register_source(source.spec)
    try:
        yield Campaign(world=world, sources=sources, store=store, protocol=protocol, seed=seed)
    finally:
        store.close()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread, as a campaign worker runs: on a busy machine more threads only contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def conductivity_world() -> World:
    return load_world("electrolyte-conductivity")


@pytest.fixture
def conductivity(conductivity_world: World, tmp_path: Path) -> Iterator[Campaign]:
    """An empty campaign on the electrolyte-conductivity world."""
    yield from open_campaign(conductivity_world, tmp_path)


def random_designs(campaign: Campaign, n: int, rng: np.random.Generator) -> list[Design]:
    """``n`` uniform random designs of the target's region (not Sobol: the strategies' own sequence)."""
    region = TargetRegion.of(campaign.world.design_space, campaign.world.target)
    return region.from_region(rng.random((n, region.dim)))


def cold_conductivity(campaign: Campaign, design: Design, seed: int = 0) -> float | None:
    """What the robot measures at 253.15 K for ``design`` (None: outside the measured formulations)."""
    result = campaign.sources[ROBOT].run(design, campaign.protocol, seed=seed)
    if result.status is not ResultStatus.SUCCEEDED:
        return None
    return next(o.value for o in result.observations if o.index == pytest.approx(COLD_K))


def chosen_designs(proposal: object) -> list[Design]:
    assert proposal is not None
    return [option.option.design for option in proposal.chosen]  # type: ignore[attr-defined]


def assert_distinct(designs: Sequence[Design], others: Sequence[Design] = ()) -> None:
    keys = [tuple(sorted(d.values.items())) for d in designs]
    assert len(set(keys)) == len(keys), "a proposal repeats a design"
    launched = {tuple(sorted(d.values.items())) for d in others}
    assert not set(keys) & launched, "a proposal repeats a launched design"


# --------------------------------------------------------------------------- registry


def test_registry_builds_each_baseline() -> None:
    assert set(BASELINES) <= set(strategy_names())
    for name in BASELINES:
        assert make_strategy(name).name == name


@pytest.mark.parametrize("name", ["gp-qlogei", "mf-gp"])
def test_unknown_or_bad_settings_are_refused(name: str) -> None:
    from interphase.schema import InvalidInputError

    with pytest.raises(InvalidInputError, match="takes no settings"):
        make_strategy("trial-and-error", {"n_init": 3})
    with pytest.raises(InvalidInputError, match="unknown setting"):
        make_strategy(name, {"n_inti": 3})
    with pytest.raises(InvalidInputError, match="positive int"):
        make_strategy(name, {"n_init": 0})
    with pytest.raises(InvalidInputError, match="unknown setting"):  # the interphase agent's, not theirs
        make_strategy(name, {"review_every_cycles": 20})


# --------------------------------------------------------------------------- trial and error


def test_trial_and_error_is_deterministic_and_stays_on_the_highest_fidelity(conductivity: Campaign) -> None:
    strategy = make_strategy("trial-and-error")
    view = conductivity.view()
    first = strategy.propose(view, ROBOT, 4)
    again = make_strategy("trial-and-error").propose(conductivity.view(), ROBOT, 4)
    assert first is not None and again is not None
    assert chosen_designs(first) == chosen_designs(again)
    assert len(first.chosen) == 4
    assert_distinct(chosen_designs(first))
    for option in first.chosen:
        assert option.option.source == ROBOT
        assert option.option.protocol == conductivity.protocol
        assert view.check.in_region(option.option.design)
        assert option.cost == pytest.approx(0.5)
    assert strategy.propose(view, CPU, 2) is None


def test_trial_and_error_continues_the_sobol_sequence(conductivity: Campaign) -> None:
    strategy = make_strategy("trial-and-error")
    region = TargetRegion.of(conductivity.world.design_space, conductivity.world.target)
    sequence = region.from_region(region.sobol(8, conductivity.seed))
    first = chosen_designs(strategy.propose(conductivity.view(), ROBOT, 3))
    assert first == sequence[:3]
    conductivity.finish(ROBOT, first[0])
    for design in first[1:]:
        conductivity.launch(ROBOT, design)
    conductivity.finish(EMPIRICAL, sequence[5])  # simulations neither count nor block
    second = chosen_designs(strategy.propose(conductivity.view(), ROBOT, 2))
    assert second == sequence[3:5]
    assert_distinct(first + second)


def test_trial_and_error_keeps_to_the_target_design_bounds(conductivity_world: World, tmp_path: Path) -> None:
    target = conductivity_world.target.model_copy(update={"design_bounds": {"c [mol/kg]": (0.5, 1.0)}})
    world = conductivity_world.model_copy(update={"target": target})
    for campaign in open_campaign(world, tmp_path):
        view = campaign.view()
        designs = chosen_designs(make_strategy("trial-and-error").propose(view, ROBOT, 4))
        assert all(0.5 <= d.values["c [mol/kg]"] <= 1.0 for d in designs)
        assert all(view.check.in_region(d) for d in designs)


def test_trial_and_error_in_the_sei_life_region(tmp_path: Path) -> None:
    """Shape only: the sei-life region (charge >= 1.5C) and its lab resource, with SPM runs present."""
    world = load_world("sei-life")
    protocol = world.protocol.model_copy(update={"n_cycles": 10})
    for campaign in open_campaign(world, tmp_path, protocol=protocol):
        region = TargetRegion.of(world.design_space, world.target)
        campaign.finish("pybamm-spm", region.from_region(np.full((1, region.dim), 0.5))[0])
        view = campaign.view()
        assert view.highest_fidelity == "lab-cell"
        strategy = make_strategy("trial-and-error")
        proposal = strategy.propose(view, "lab-cell", 4)
        assert proposal is not None and len(proposal.chosen) == 4
        for option in proposal.chosen:
            assert option.option.source == "lab-cell" and option.option.protocol.n_cycles == 10
            assert 1.5 <= option.option.design.values["Charge C-rate"] <= 2.0
            assert option.cost > 24  # formation alone is a day
        assert strategy.propose(view, CPU, 2) is None
        assert strategy.propose(view, "post-mortem", 2) is None


# --------------------------------------------------------------------------- GP qLogEI


def test_gp_starts_with_sobol_points(conductivity: Campaign) -> None:
    view = conductivity.view()
    gp = make_strategy("gp-qlogei").propose(view, ROBOT, 4)
    sobol = make_strategy("trial-and-error").propose(view, ROBOT, 4)
    assert chosen_designs(gp) == chosen_designs(sobol)
    assert make_strategy("gp-qlogei").propose(view, CPU, 2) is None


def test_gp_qlogei_proposes_new_designs_in_the_region(conductivity: Campaign,
                                                      rng: np.random.Generator) -> None:
    for design in random_designs(conductivity, 6, rng):
        conductivity.finish(ROBOT, design)
    pending = random_designs(conductivity, 2, rng)
    for design in pending:
        conductivity.launch(ROBOT, design)
    strategy = make_strategy("gp-qlogei")
    view = conductivity.view()
    strategy.observe(view)
    started = time.perf_counter()
    proposal = strategy.propose(view, ROBOT, 2)
    seconds = time.perf_counter() - started
    designs = chosen_designs(proposal)
    assert len(designs) == 2
    assert all(view.check.in_region(d) for d in designs)
    assert_distinct(designs, [run.design for run in conductivity.completed] + pending)
    assert proposal.scores["phase"] == "qlogei"
    assert proposal.reason.startswith("qLogEI ")
    for option in proposal.chosen:
        assert option.option.source == ROBOT and option.option.protocol == conductivity.protocol
        assert np.isfinite(option.value) and option.value >= 0
        assert option.cost == pytest.approx(0.5)
        predicted = option.predicted[CONDUCTIVITY]
        assert predicted["q05"] < predicted["mean"] < predicted["q95"] and predicted["std"] > 0
    assert proposal.runners_up and all(np.isfinite(r.utility) for r in proposal.runners_up)
    assert seconds < 30
    again = make_strategy("gp-qlogei").propose(view, ROBOT, 2)
    assert chosen_designs(again) == designs, "the same view must give the same proposal"


def test_gp_qlogei_beats_random_designs(conductivity_world: World, tmp_path: Path) -> None:
    """After 8 robot results the GP's choice conducts better at -20 degC than the median random design.

    Over six campaigns (each its own random start), since one choice of qLogEI may explore an
    edge of the region: at least four of six must beat the median of 64 random designs.
    """
    wins, report = 0, []
    for seed in range(6):
        for campaign in open_campaign(conductivity_world, tmp_path / str(seed), seed=seed):
            rng = np.random.default_rng(seed)
            for design in random_designs(campaign, 8, rng):
                campaign.finish(ROBOT, design)
            chosen = chosen_designs(make_strategy("gp-qlogei").propose(campaign.view(), ROBOT, 1))[0]
            randoms = random_designs(campaign, 64, rng)
            measured = [cold_conductivity(campaign, d, seed=i) for i, d in enumerate(randoms)]
            median = float(np.median([m for m in measured if m is not None]))
            truth = cold_conductivity(campaign, chosen, seed=1000)
            wins += truth is not None and truth > median
            report.append(f"{chosen.values} -> {truth} S/m (random median {median:.4f})")
    assert wins >= 4, "\n".join(report)


def test_gp_learns_from_failed_runs(conductivity: Campaign, rng: np.random.Generator) -> None:
    """A failed robot run enters the GP at the worst observed score, not as a gap."""
    from interphase.agent.strategies.gp_qlogei import training_data

    region = TargetRegion.of(conductivity.world.design_space, conductivity.world.target)
    outside = region.from_region(np.array([[0.0, 0.0]]))[0]  # r = 0.087, c = 0.194: no formulation near
    for design in [*random_designs(conductivity, 5, rng), outside]:
        conductivity.finish(ROBOT, design)
    assert conductivity.completed[-1].result.status is ResultStatus.FAILED
    data = training_data(conductivity.view(), region, {ROBOT: 1.0})
    assert data.y.size == 6 and data.scored == 5
    assert data.y[-1] == pytest.approx(data.y[:-1].min())
    proposal = make_strategy("gp-qlogei").propose(conductivity.view(), ROBOT, 2)
    assert proposal is not None and proposal.scores["phase"] == "qlogei"


# --------------------------------------------------------------------------- multi-fidelity GP


def test_mf_gp_proposes_per_resource_with_its_fidelity(conductivity: Campaign,
                                                       rng: np.random.Generator) -> None:
    for design in random_designs(conductivity, 4, rng):
        conductivity.finish(ROBOT, design)
    for design in random_designs(conductivity, 8, rng):
        conductivity.finish(EMPIRICAL, design)
    conductivity.launch(ROBOT, random_designs(conductivity, 1, rng)[0])
    strategy = make_strategy("mf-gp")
    view = conductivity.view()
    strategy.observe(view)
    timings = {}
    for resource, source, fidelity, slots in ((ROBOT, ROBOT, 1.0, 3), (CPU, EMPIRICAL, 0.0, 2)):
        started = time.perf_counter()
        proposal = strategy.propose(view, resource, slots)
        timings[resource] = time.perf_counter() - started
        assert proposal is not None, f"mf-gp left {resource} idle"
        assert proposal.scores["phase"] == "mf-mes" and proposal.scores["fidelity"] == fidelity
        assert len(proposal.chosen) == slots
        assert_distinct(chosen_designs(proposal), [r.design for r in view.completed if r.source == source]
                        + [r.design for r in view.running if r.source == source])
        assert proposal.reason.startswith("MF-MES ") and "nan" not in proposal.reason
        for option in proposal.chosen:
            assert option.option.source == source and option.option.protocol == conductivity.protocol
            assert view.check.in_region(option.option.design)
            assert np.isfinite(option.value) and np.isfinite(option.utility) and option.cost > 0
            assert np.isfinite(option.predicted[CONDUCTIVITY]["mean"])
    assert max(timings.values()) < 60, timings


def test_mf_gp_starts_with_sobol_points_on_both_resources(conductivity: Campaign) -> None:
    strategy = make_strategy("mf-gp")
    view = conductivity.view()
    lab = strategy.propose(view, ROBOT, 4)
    cpu = strategy.propose(view, CPU, 2)
    assert lab is not None and cpu is not None
    assert {o.option.source for o in lab.chosen} == {ROBOT}
    assert {o.option.source for o in cpu.chosen} == {EMPIRICAL}
    assert lab.scores["phase"] == cpu.scores["phase"] == "initial"
    assert chosen_designs(cpu) == chosen_designs(lab)[:2], "both fidelities start on the same Sobol points"


def test_model_baselines_in_the_sei_life_region(tmp_path: Path, rng: np.random.Generator) -> None:
    """Shape only, 8 variables: short lab-cell and SPM runs, then each model proposes for each resource."""
    world = load_world("sei-life")
    protocol = world.protocol.model_copy(update={"n_cycles": 10})
    for campaign in open_campaign(world, tmp_path, protocol=protocol):
        for design in random_designs(campaign, 4, rng):
            campaign.finish("lab-cell", design)
        for design in random_designs(campaign, 4, rng):
            campaign.finish("pybamm-spm", design)
        view = campaign.view()
        cases = (("gp-qlogei", "lab-cell", "lab-cell"), ("mf-gp", "lab-cell", "lab-cell"),
                 ("mf-gp", CPU, "pybamm-spm"))
        for name, resource, source in cases:
            strategy = make_strategy(name)
            started = time.perf_counter()
            proposal = strategy.propose(view, resource, 2)
            seconds = time.perf_counter() - started
            assert proposal is not None and proposal.scores["phase"] in ("qlogei", "mf-mes"), (name, resource)
            assert seconds < 60, (name, resource, seconds)
            for option in proposal.chosen:
                assert option.option.source == source and option.option.protocol.n_cycles == 10
                assert view.check.in_region(option.option.design)
                assert 0 < option.predicted["Capacity retention"]["mean"] < 1.5
            assert strategy.propose(view, "post-mortem", 2) is None
        assert make_strategy("gp-qlogei").propose(view, CPU, 2) is None


def test_mf_gp_stops_simulating_at_its_cap(conductivity: Campaign, rng: np.random.Generator) -> None:
    for design in random_designs(conductivity, 5, rng):
        conductivity.finish(EMPIRICAL, design)
    strategy = make_strategy("mf-gp", {"max_simulations": 6})
    proposal = strategy.propose(conductivity.view(), CPU, 2)
    assert proposal is not None and len(proposal.chosen) == 1
    conductivity.launch(EMPIRICAL, proposal.chosen[0].option.design)
    assert strategy.propose(conductivity.view(), CPU, 2) is None
    assert strategy.propose(conductivity.view(), ROBOT, 4) is not None, "the lab goes on"


def screened_world(conductivity_world: World, path: Path) -> Path:
    """The conductivity world whose cheap source is an instrument without channels, priced in lab hours only.

    ``hte-screen`` reads the robot's own table (fidelity 10, no channels: it runs on a CPU worker),
    at 0.05 lab hours a request and no CPU time, the way a screening instrument is priced.
    """
    import yaml

    world = conductivity_world.model_dump(mode="json", exclude_none=True)
    robot = world["sources"][ROBOT]
    screen = {key: value for key, value in robot.items() if key != "channels"}
    screen.update({"fidelity": 10, "cost": {"lab_hours": 0.05}, "description": "a screen"})
    world.update({"name": "robot-screen", "sources": {ROBOT: robot, "hte-screen": screen}})
    path.write_text(yaml.safe_dump(world))
    return path


def test_mf_gp_prices_a_screen_without_cpu_time_in_the_lab_hours_the_clock_charges(
        conductivity_world: World, tmp_path: Path) -> None:
    from interphase.agent.campaign import run_campaign
    from interphase.agent.plan import resolve
    from interphase.schema.run_config import RunConfig

    world = screened_world(conductivity_world, tmp_path / "robot-screen.yaml")
    store = Store(f"sqlite:///{tmp_path / 'interphase.db'}")
    store.init()
    try:
        config = RunConfig(name="screened", world=str(world), strategy="mf-gp", seed=0,
                           agent={"n_init": 2, "max_simulations": 6, "num_fantasies": 4, "candidate_set": 64,
                                  "raw_samples": 16},
                           budget={"lab_hours": 4}, stop={"until_verified": False})
        outcome = run_campaign(store, resolve(config))
        scores = [d.chosen["scores"] for d in store.list_decisions("screened")
                  if d.chosen.get("kind") == "launch" and d.chosen["scores"].get("phase") == "mf-mes"]
    finally:
        store.close()
    assert outcome.status == "budget"
    assert outcome.by_source["hte-screen"]["runs"] == 6 and outcome.by_source[ROBOT]["runs"] >= 4
    assert scores, "the multi-fidelity GP took over from the Sobol designs"
    for entry in scores:  # what the clock charges each: 0.05 and 0.5 lab hours, not 0 CPU hours
        assert entry["simulation"] == "hte-screen"
        assert entry["cost_hours"] == {"simulation": pytest.approx(0.05), "lab": pytest.approx(0.5)}


def test_price_is_the_clock_hours_and_never_zero(conductivity: Campaign) -> None:
    from interphase.agent.strategies.pricing import MIN_PRICE_H, price_hours
    from interphase.agent.view import clock_hours
    from interphase.schema import Cost

    view = conductivity.view()
    design = random_designs(conductivity, 1, np.random.default_rng(0))[0]
    assert price_hours(view, ROBOT, design) == pytest.approx(0.5)  # lab hours
    assert price_hours(view, EMPIRICAL, design) == pytest.approx(0.001 / 3600.0)  # CPU time
    assert clock_hours(Cost(lab_hours=2.0, cpu_seconds=7200.0)) == 2.0  # both: the lab hours hold the slot
    assert clock_hours(Cost()) == 0.0
    free = dataclasses.replace(view, estimate_cost=lambda s, d, p: Cost())
    assert price_hours(free, ROBOT, design) == MIN_PRICE_H > 0.0


@pytest.mark.parametrize("name", [*BASELINES, "interphase"])
def test_every_strategy_plans_lab_tests_in_a_world_without_a_simulator(
        name: str, conductivity_world: World, tmp_path: Path) -> None:
    """The robot alone (an instrument on channels): each strategy tests on it, none ends with nothing run."""
    import yaml

    from interphase.agent.campaign import run_campaign
    from interphase.agent.plan import resolve
    from interphase.schema.run_config import RunConfig

    world = conductivity_world.model_dump(mode="json", exclude_none=True)
    world.update({"name": "robot-only", "sources": {ROBOT: world["sources"][ROBOT]}})
    path = tmp_path / "robot-only.yaml"
    path.write_text(yaml.safe_dump(world))
    light = {"members": 2, "epochs": 8, "warm_epochs": 4, "min_steps": 20, "candidates": 64, "local_moves": 2,
             "n_samples": 2} if name == "interphase" else {}
    store = Store(f"sqlite:///{tmp_path / 'interphase.db'}")
    store.init()
    try:
        config = RunConfig(name="robot-only", world=str(path), strategy=name, seed=2, agent=light,
                           budget={"lab_hours": 4}, stop={"until_verified": False})
        outcome = run_campaign(store, resolve(config))
        launches = [d.chosen for d in store.list_decisions("robot-only") if d.chosen["kind"] == "launch"]
    finally:
        store.close()
    assert outcome.status == "budget", outcome.summary_lines()
    assert outcome.by_source[ROBOT]["runs"] >= 8  # the budget's 4 lab hours, half an hour a test
    assert {run["source"] for chosen in launches for run in chosen["runs"]} == {ROBOT}
    if name == "interphase":  # a first round fills the space (a refused request frees its channel at once)
        assert launches[0]["scores"]["phase"] == "space-filling" and len(launches[0]["runs"]) == 4
        filling = [c for c in launches if c["scores"].get("phase") == "space-filling"]
        assert all(c["clock_h"] == 0.0 for c in filling)  # the model's first fit comes after the first round
        picked = [run for chosen in launches[len(filling):] for run in chosen["runs"]]
        assert picked and all(run["predicted"][CONDUCTIVITY]["p_meet"] is not None for run in picked)
