"""The interphase agent: the generative model and cost-aware, multi-fidelity decisions.

At every event it decides four things together:

- *which design*: candidates are Sobol points of the target's design region plus local moves
  around the best ones; the value of a lab test is the probability that it yields a hit (the
  design meets every bound at the highest fidelity and does not fail, ``qProbabilityOfMeeting``
  on the ensemble's BoTorch posterior), with tests already running counted in the batch;
- *which source*: lab channels take the tests with the best value per lab hour; CPU workers
  take the simulations that tell the most per CPU hour about the designs closest to a hit (the
  ensemble's epistemic std of the lab endpoint there), until that falls below a floor; and
  before a design goes to the lab, the simulator its forecast comes from runs it, the model is
  refitted and the pick made again (``shortlist_rounds``; :mod:`interphase.agent.shortlist`);
- *what test length*: every test is planned to the horizon and reviewed every
  ``review_every_cycles`` cycles; once its forecast from its first cycles gives
  ``P(meet) < stop_below`` it is stopped, and once it gives ``P(meet) > replicate_above`` a
  replicate starts on the next free channel, so that verification overlaps the test; where its
  own fade is heading (:mod:`interphase.agent.fade`) stops and replicates it the same way, before
  any lab test has checked the model's forecasts;
- *how many at once*: the free slots, filled greedily by marginal gain per cost (a design next to
  a chosen or running one adds little).

A world without a simulator (its sources all on lab channels: a cycler and a post-mortem, or
instruments over tables) has nothing to fill the space before the first fit, so the lab does
it: space-filling tests of the target's region, until one round of them (the channels of the
highest-fidelity source, at least two) has results; the model is fitted on those and takes over.

The model (``models.surrogate.Surrogate``) is refitted when a highest-fidelity result arrives or
after ``refit_every`` new simulations: warm-started from the last fit, from scratch when the
records grew by half.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from interphase.agent.fade import FadeCalibration
from interphase.agent.options import Option, Proposal, ScoredOption, StopOrder
from interphase.agent.region import TargetRegion
from interphase.agent.shortlist import ReferenceShortlist
from interphase.agent.strategies.pricing import price_hours
from interphase.agent.strategies.trial_and_error import launched_on, sobol_options
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.track_record import Failures, Misses, estimate_std, horizon_estimate, pooled_std
from interphase.agent.view import CPU, CampaignView, RunningTest
from interphase.schema import Design, InvalidInputError, SourceSpec, TargetSpec

if TYPE_CHECKING:
    from interphase.models.ensemble import EnsembleConfig

DEFAULTS: dict[str, Any] = {
    "members": 5, "epochs": 80, "warm_epochs": 100, "min_steps": 800, "refit_every": 8,
    "min_simulations": 24, "max_simulations": 96, "simulators": None, "simulation_floor": 0.004,
    "candidates": 768, "local_moves": 12, "n_samples": 6, "review_every_cycles": 20, "first_review": 20,
    "stop_below": 0.05, "own_stop_below": 0.02, "replicate_above": 0.6, "replicate_after_cycles": 40,
    "seed": 0, "fade_min_runs": 8, "make_room": True,
    "min_full_tests": 2, "below_margin": 0.005, "source_prior_std": 1.5, "failure_radius": 0.2,
    "max_screens": 0, "screen_top": 4, "screen_cpu_seconds": 30.0, "miss_radius": 0.25,
    "miss_model_after": 5,
    # Where launch forecasts come from: "auto" is the highest-fidelity simulator a run of which
    # costs at most reference_cpu_seconds (the lab's nearest affordable model; its misses against
    # the lab are the track record's to learn), else the cheapest; a source's name forecasts
    # from the model's own head for it.
    "forecast_from": "auto", "reference_cpu_seconds": 30.0, "min_reference": 12,
    # Simulate before you build: the lab's picks run on that simulator first (then a refit and a
    # new pick), for up to shortlist_rounds rounds per launch (0: launch on the model's forecast).
    "shortlist_rounds": 3,
    # The model's random-prior scale. The model's default (1.0) keeps its epistemic spread falling
    # with data; the agent refits on a few hundred steps, which cancel a prior that wide too
    # little for its forecasts of running tests, and its discovery figures were measured at 0.3.
    "prior_scale": 0.3,
    # What the track record sets a replicate's outcome against (:meth:`InterphaseAgent._track`):
    # "none" leaves replicates out (the discovery ledger's agent); "new-cell": an early replicate
    # carries the forecast for a new cell of its design at its launch (the engine's verification
    # replicates none); "first-launch": every replicate is set against the launch forecast of its
    # design's first test, made before any cell of the design ran.
    "replicate_misses": "none",
    # How far a test's outcome may lie from its design's, for the miss model: "floor" (a tenth
    # of the model's objective scale: the ledger's agent) or "replicates": at least the pooled
    # std of the cells of one design that the campaign tested more than once (cold cells of one
    # design split into flat and fading ones, and a lucky one must not pull its neighbours up).
    "cell_scatter": "floor",
}
RETENTION = "Capacity retention"
REPLICATE_MISSES = ("none", "new-cell", "first-launch")
CELL_SCATTER = ("floor", "replicates")


def ensemble_config(options: dict[str, Any], seed: int) -> EnsembleConfig:
    """The ensemble of the agent's fits from scratch, from its settings (:data:`DEFAULTS` keys)."""
    from interphase.models.config import NetConfig
    from interphase.models.ensemble import EnsembleConfig
    from interphase.models.training import TrainConfig

    return EnsembleConfig(members=options["members"], seed=seed,
                          net=NetConfig(source_prior_std=options["source_prior_std"],
                                        prior_scale=options["prior_scale"]),
                          train=TrainConfig(epochs=options["epochs"], warm_epochs=options["warm_epochs"],
                                            min_steps=options["min_steps"]))


def dataset_layout(sources: Mapping[str, SourceSpec], target: TargetSpec) -> tuple[list[str], list[str]]:
    """The sources (by fidelity, then name) and per-cycle observables of the agent's training data.

    The observables are retention, capacity, resistance and SEI thickness where some source
    measures them, then the target's other observables but conductivity (condition-indexed).
    """
    ordered = sorted(sources, key=lambda name: (sources[name].fidelity, name))
    wanted = {b.observable for b in target.bounds} | {o.observable for o in target.objectives}
    measured = {o for spec in sources.values() for o in spec.observables}
    observables = [o for o in (RETENTION, "Discharge capacity [A.h]", "Resistance [Ohm]", "SEI thickness [m]")
                   if o in measured] + sorted(wanted - {RETENTION} - {"Conductivity [S.m-1]"})
    return ordered, list(dict.fromkeys(observables))


def launch_forecasts(decisions: Sequence[Mapping[str, Any]], source: str, objective: str,
                     replicates: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The forecast of ``objective`` each run on ``source`` was launched with, by request id.

    Args:
        decisions: The campaign's decisions (their ``chosen`` records), oldest first; only
            ``"launch"`` ones carry forecasts.
        source: The source whose runs are wanted (the highest fidelity).
        objective: The observable (e.g. ``"Capacity retention"``).
        replicates: Request id -> design id it repeats, for replicates to set against the
            launch forecast of their design's first test where they carry none of their own.

    Returns:
        Request id -> forecast (``mean``, ``std``, ``p_meet``, ..., ``raw_mean``), for the runs
        whose forecast has a mean.
    """
    forecasts: dict[str, dict[str, Any]] = {}
    first: dict[str, dict[str, Any]] = {}  # design id -> the launch forecast of its first test
    for chosen in decisions:
        if chosen.get("kind") != "launch":
            continue
        for run in chosen.get("runs", []):
            forecast = (run.get("predicted") or {}).get(objective)
            if forecast and run.get("source") == source and forecast.get("mean") is not None:
                forecasts[run["request_id"]] = forecast
                if not run.get("replicate_of"):
                    first.setdefault(run["design_id"], forecast)
    for request_id, design_id in (replicates or {}).items():
        if request_id not in forecasts and design_id in first:
            forecasts[request_id] = first[design_id]
    return forecasts


class InterphaseAgent(Strategy):
    """The cost-aware agent over the interphase generative model (settings: :data:`DEFAULTS`)."""

    name = "interphase"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        unknown = sorted(set(self.settings) - set(DEFAULTS))
        if unknown:
            raise InvalidInputError(f"agent.{unknown[0]}", f"unknown setting; the interphase agent takes "
                                    f"{', '.join(sorted(DEFAULTS))}")
        self.options = {**DEFAULTS, **self.settings}
        for name, allowed in (("replicate_misses", REPLICATE_MISSES), ("cell_scatter", CELL_SCATTER)):
            if self.options[name] not in allowed:
                raise InvalidInputError(f"agent.{name}", f"{self.options[name]!r} is not one of "
                                        f"{', '.join(allowed)}")
        self.review_every_cycles = int(self.options["review_every_cycles"])
        self.surrogate: Any = None
        self.fitted_on = 0
        self.fitted_highest = -1
        self.fitted_sims = 0
        self.fitted_shown = 0
        self.fits = 0
        self._scored: tuple[list[Design], tuple[torch.Tensor, ...]] | None = None
        self._record: tuple[Misses, Failures, Misses] | None = None
        self._fade_cache: tuple[int, FadeCalibration] | None = None
        self._objective_name = RETENTION
        self.fit_seconds = 0.0
        self.replicate_wanted: dict[str, tuple[Design, float]] = {}
        self.shortlist = ReferenceShortlist(rounds_allowed=int(self.options["shortlist_rounds"]))
        self._reference_name: str | None = None

    def check_sources(self, sources: Sequence[str]) -> None:
        """Refuse a ``forecast_from`` that is neither ``auto`` nor one of ``sources``."""
        wanted = self.options["forecast_from"]
        if wanted != "auto" and wanted not in sources:
            raise InvalidInputError("agent.forecast_from", f"unknown source {wanted!r}; expected auto or one "
                                    f"of {', '.join(sorted(sources))}")

    # ------------------------------------------------------------------ learning

    def observe(self, view: CampaignView) -> None:
        """Refit the model when highest-fidelity data or enough simulations arrived.

        Highest-fidelity data is a result, or new cycles of a running test; the running tests' first
        cycles train it as partial records. The reference runs of the lab's shortlist refit it too.
        """
        highest = [c for c in view.completed if c.source == view.highest_fidelity]
        sims = [c for c in view.completed if view.resource_of[c.source] == CPU]
        shown = sum(r.cycles_done for r in view.running if r.source == view.highest_fidelity)
        if self.surrogate is None and (len(sims) + len(highest) < self._first_fit_records(view)
                                       or len(view.runs_of(self._reference(view), running=False))
                                       < self._reference_runs_wanted(view)):
            return
        shortlisted = self.surrogate is not None and self.shortlist.ready_to_fit(view, self._reference(view))
        if self.surrogate is not None and not shortlisted and len(highest) == self.fitted_highest and \
                shown < self.fitted_shown + self.options["review_every_cycles"] and \
                len(sims) - self.fitted_sims < self.options["refit_every"]:
            return
        if shortlisted:  # a refit for another reason does not stand for runs still in flight
            self.shortlist.fitted()
        began = time.monotonic()
        dataset = self._dataset(view)
        from interphase.models.surrogate import Surrogate

        records = int((dataset.batch.has_result > 0).sum())
        warm = self.surrogate is not None and records <= 1.5 * max(self.fitted_on, 1)
        if warm:
            self.surrogate.refit(dataset)
        else:
            config = ensemble_config(self.options, view.seed + self.options["seed"])
            self.surrogate = Surrogate.fit(dataset, config)
            self.fitted_on = records
        self.fitted_highest, self.fitted_sims, self.fitted_shown = len(highest), len(sims), shown
        self.fits += 1
        self._scored = None
        self._record = None
        self.fit_seconds = time.monotonic() - began
        self.surrogate.save(view.store, {"campaign": view.campaign, "clock_h": view.clock_h, "warm": warm,
                                         "records": records, "fit_seconds": self.fit_seconds})

    def _dataset(self, view: CampaignView) -> Any:
        """The campaign's stored records plus the highest-fidelity tests running now (their first cycles)."""
        from interphase.models.dataset import TrajectoryDataset

        sources, observables = dataset_layout(view.sources, view.target)
        dataset = TrajectoryDataset.from_store(view.store, view.design_space, campaign=view.campaign,
                                               sources=sources, observables=observables,
                                               horizon=view.protocol.n_cycles, include_unlabelled=False)
        running = [r for r in view.running if r.source == view.highest_fidelity and r.cycles_done > 0]
        return dataset.with_partial([r.design for r in running], [r.source for r in running],
                                    [r.protocol for r in running], [r.prefix for r in running])

    # ------------------------------------------------------------------ deciding

    def _first_fit_records(self, view: CampaignView) -> int:
        """Results before the model's first fit: ``min_simulations``, or one lab round without a simulator."""
        if view.sources_on(CPU):
            return int(self.options["min_simulations"])
        return max(2, view.capacity.get(view.resource_of[view.highest_fidelity], 1))

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        """Simulations on CPU workers, tests (and replicates) on the highest-fidelity channels."""
        if resource == CPU:
            return self._simulations(view, slots)
        if resource != view.resource_of[view.highest_fidelity]:
            return None
        if self.surrogate is not None:
            return self._tests(view, slots)
        if not view.sources_on(CPU):
            return self._first_tests(view, slots)
        return None

    def _first_tests(self, view: CampaignView, slots: int) -> Proposal | None:
        """Space-filling tests of the target's region on the lab, in a world without a simulator.

        The region's Sobol sequence, as trial and error runs it, until :meth:`_first_fit_records`
        results are in; the model's first fit stands on them.
        """
        source = view.highest_fidelity
        region = TargetRegion.of(view.design_space, view.target)
        chosen = sobol_options(view, region, source, slots, region.to_region(launched_on(view, source)),
                               "space-filling before the first model (no simulator)")
        if not chosen:
            return None
        done = len(view.runs_of(source, running=False))
        return Proposal(chosen=tuple(chosen), reason=(
            f"{source} at {len(chosen)} design(s): space-filling tests of the target region before the "
            f"model's first fit ({done} of {self._first_fit_records(view)} results); the world has no "
            "simulator to fill the space first"), scores={"phase": "space-filling"})

    def _simulations(self, view: CampaignView, slots: int) -> Proposal | None:
        """Screen the lab's shortlist with the best affordable simulator, else refine with the cheapest."""
        cheap = view.sources_on(CPU)[0]
        screen = self._screening_source(view)
        reference = self._reference(view)
        if self.surrogate is None:  # space-filling first: no model to ask yet
            chosen = []
            plan = [(cheap, self.options["min_simulations"], 17)]
            if reference != cheap and view.resource_of.get(reference) == CPU:
                plan.append((reference, self._reference_runs_wanted(view), 29))
            for source, wanted, offset in plan:
                done = view.runs_of(source)
                seen = {d.design.content_hash() for d in done}
                pool = _region_sobol(view, wanted * 2, view.seed + offset)
                room = min(slots - len(chosen), wanted - len(done))  # running ones count
                fresh = [d for d in pool if d.content_hash() not in seen][:max(room, 0)]
                chosen += [ScoredOption(Option(source, d, view.protocol), value=math.nan,
                                        cost=self._cost_h(view, source, d), utility=math.nan,
                                        why="space-filling before the first model") for d in fresh]
            names = " and ".join(sorted({c.option.source for c in chosen}))
            if not chosen:
                return None
            return Proposal(chosen=tuple(chosen), reason=f"{names}: {len(chosen)} space-filling "
                            "simulation(s) of the target region before the model's first fit")
        shortlisted = self.shortlist.wanted(view, reference, slots)
        if shortlisted and view.resource_of.get(reference) == CPU:
            return self._shortlist_runs(view, reference, shortlisted)
        pool, scores = self._scores(view)
        p_meet, mean, epistemic = scores[:3]
        if screen is not None and len(view.runs_of(screen)) < self.options["max_screens"]:
            screened = {r.design.content_hash() for r in view.runs_of(screen)}
            order = [i for i in torch.argsort(p_meet, descending=True).tolist()[: self.options["screen_top"]]
                     if pool[i].content_hash() not in screened][:slots]
            if order:
                chosen = tuple(self._sim_option(view, screen, pool[i], float(p_meet[i]), mean[i],
                                                epistemic[i], p_meet[i],
                                                why="screens a design the lab may test next")
                               for i in order)
                ratio = self._cost_h(view, view.highest_fidelity, pool[order[0]]) / max(chosen[0].cost, 1e-12)
                return Proposal(chosen=chosen, reason=(
                    f"{screen} at {len(chosen)} design(s) of the lab's shortlist (P(meet) up to "
                    f"{float(p_meet[order[0]]):.2f}): it models what the cheapest simulator lacks, "
                    f"at 1/{ratio:,.0f} the lab cost"))
        if view.resource_of.get(reference) == CPU:
            cheap = reference  # refine what the launches are forecast from
        done = view.runs_of(cheap)
        if len(done) >= self.options["max_simulations"]:
            return None
        seen = {d.design.content_hash() for d in done}
        keep = [i for i, d in enumerate(pool) if d.content_hash() not in seen]
        if not keep:
            return None
        # What a run can tell: the model's doubt about a design, where the design could be verified
        # (a design that cannot meet the target is not worth resolving, however uncertain).
        p_verify = scores[4]
        value = epistemic[keep] * p_verify[keep].clamp_min(1e-6)
        order = torch.argsort(value, descending=True).tolist()
        if float(value[order[0]]) < self.options["simulation_floor"] * 0.5:
            return None
        room = min(slots, self.options["max_simulations"] - len(done))  # running ones count
        picks = [keep[i] for i in order[:room]]
        chosen = tuple(self._sim_option(view, cheap, pool[i],
                                        float(epistemic[i] * p_verify[i].clamp_min(1e-6)),
                                        mean[i], epistemic[i], p_meet[i],
                                        why=f"epistemic std {float(epistemic[i]):.3f} where P(verify) is "
                                            f"{float(p_verify[i]):.2f}") for i in picks)
        runners = tuple(self._sim_option(view, cheap, pool[keep[i]], float(value[i]), mean[keep[i]],
                                         epistemic[keep[i]], p_meet[keep[i]]) for i in order[slots:slots + 3])
        ratio = self._cost_h(view, view.highest_fidelity, pool[picks[0]]) / max(chosen[0].cost, 1e-12)
        reason = (f"{cheap} at {len(chosen)} design(s): epistemic std of lab {self._objective(view)} "
                  f"{float(epistemic[picks[0]]):.3f} > {self.options['simulation_floor']:g} near P(verify) "
                  f"{float(p_verify[picks[0]]):.2f}, at 1/{ratio:,.0f} the lab cost")
        return Proposal(chosen=chosen, runners_up=runners, reason=reason,
                        scores={"fit_seconds": self.fit_seconds})

    def _shortlist_runs(self, view: CampaignView, reference: str, designs: list[Design]) -> Proposal:
        """Reference runs of the lab's next picks, before any of them goes to a cell."""
        lab_h = self._cost_h(view, view.highest_fidelity, designs[0])
        chosen = tuple(ScoredOption(Option(reference, d, view.protocol), value=math.nan,
                                    cost=self._cost_h(view, reference, d), utility=math.nan,
                                    why="the lab's next pick, simulated before its cell is built")
                       for d in designs)
        return Proposal(chosen=chosen, reason=(
            f"{reference} at {len(chosen)} design(s) the lab would test next (round {self.shortlist.rounds} "
            f"of {self.shortlist.rounds_allowed}): seconds of simulation before a {lab_h:.0f}-hour test, "
            f"then a refit and a new pick"))

    def _sim_option(self, view: CampaignView, source: str, design: Design, value: float, mean: Any,
                    epistemic: Any, p_meet: Any, why: str = "") -> ScoredOption:
        cost = self._cost_h(view, source, design)
        return ScoredOption(Option(source, design, view.protocol), value=value, cost=cost,
                            utility=value / max(cost, 1e-12),
                            predicted=self._predicted(mean, epistemic, p_meet), why=why)

    def _screening_source(self, view: CampaignView) -> str | None:
        """The highest-fidelity simulator whose run costs at most ``screen_cpu_seconds``.

        None: only the cheapest.
        """
        if self.options["max_screens"] <= 0 or not view.sources_on(CPU):
            return None
        cheapest = view.sources_on(CPU)[0]
        affordable = [name for name in _affordable_simulators(view, self.options["screen_cpu_seconds"])
                      if name != cheapest]
        return affordable[-1] if affordable else None

    def _reference(self, view: CampaignView) -> str:
        """The source launch forecasts are made for (setting ``forecast_from``).

        ``"auto"``: the highest-fidelity simulator whose run costs at most
        ``reference_cpu_seconds``. A cell is closer to the most faithful model than to the
        crudest (the cheapest simulator of ``sei-life`` has no lithium plating, and ranked cold,
        fast-charged designs first, which plate in the lab); what that model still misses is
        learnt from the lab's tests by the track record. None affordable: the cheapest. (On
        ``electrolyte-conductivity``, whose one simulator has no solvent-ratio term, forecasting
        from the robot's own head instead gave medians of 1.5 h and 2.75 h over two runs of 10
        seeds, against 2.0 h from the simulator: no better, within the run-to-run spread.)
        """
        if self._reference_name is None:  # a campaign's sources and protocol do not change
            self._reference_name = self._choose_reference(view)
        return self._reference_name

    def _choose_reference(self, view: CampaignView) -> str:
        wanted = self.options["forecast_from"]
        if wanted != "auto":
            self.check_sources(list(view.sources))
            return str(wanted)
        simulators = view.sources_on(CPU)
        if not simulators:
            return view.highest_fidelity
        affordable = _affordable_simulators(view, self.options["reference_cpu_seconds"])
        return affordable[-1] if affordable else simulators[0]

    def _reference_runs_wanted(self, view: CampaignView) -> int:
        """Space-filling runs of the reference before the first fit (none for the cheapest or the lab)."""
        reference = self._reference(view)
        simulators = view.sources_on(CPU)
        if not simulators or reference == simulators[0] or reference not in simulators:
            return 0
        return int(self.options["min_reference"])

    def _tests(self, view: CampaignView, slots: int) -> Proposal | None:
        source = view.highest_fidelity
        screen = self._screening_source(view)
        if screen is not None and any(r.source == screen for r in view.running):
            return None  # a screen of the shortlist is minutes of simulated time away: wait for it
        chosen = self._early_replicates(view, source, slots)
        if len(chosen) >= slots:
            return Proposal(chosen=tuple(chosen), reason=f"{source}: replicate(s) of a test whose first "
                            f"cycles forecast a hit, so that verification overlaps it")
        candidates, scores = self._scores(view)
        began = time.monotonic()
        picks, gains, single, meta = self._batch(view, candidates, scores, slots - len(chosen))
        p_meet, mean, epistemic, aleatoric, p_verify, bias = meta
        reference = self._reference(view)
        if view.resource_of.get(reference) == CPU and picks and \
                self.shortlist.hold(view, reference, [candidates[i] for i in picks]):
            picks, gains = [], []  # simulated first (replicates go ahead)
        elif picks:
            self.shortlist.launched()
        for i, gain in zip(picks, gains, strict=True):
            cost = self._cost_h(view, source, candidates[i])
            chosen.append(ScoredOption(Option(source, candidates[i], view.protocol), value=gain, cost=cost,
                                       utility=gain / max(cost, 1e-9),
                                       predicted=self._cell_forecast(view, meta, i),
                                       why=f"P(meet) {float(p_meet[i]):.2f} for a cell, "
                                           f"{float(p_verify[i]):.2f} for the {view.check.replicates} "
                                           f"that verify; adds {gain:.3f} to the batch"))
        order = [i for i in torch.argsort(single, descending=True).tolist() if i not in picks][:3]
        cost_of = {i: self._cost_h(view, source, candidates[i]) for i in order}
        runners = tuple(ScoredOption(Option(source, candidates[i], view.protocol), value=float(single[i]),
                                     cost=cost_of[i],
                                     utility=float(single[i]) / max(cost_of[i], 1e-9),
                                     predicted=self._predicted(mean[i], epistemic[i], p_meet[i], view=view,
                                                               p_verify=p_verify[i]))
                        for i in order)
        best = chosen[-1] if chosen else None
        if best is None:
            return None
        objective = self._objective(view)
        first = picks[0] if picks else None
        detail = (f"; best {objective} {float(mean[first]):.3f} +/- {float(epistemic[first]):.3f}"
                  if first is not None else "")
        if reference != source:
            misses = self._track(view)[0].misses.size
            detail += f" (forecast from {reference}, corrected by {misses} lab misses)"
        reason = (f"{source} at {len(chosen)} design(s), {view.protocol.n_cycles} cycles reviewed every "
                  f"{self.options['review_every_cycles']}: batch P(verified) {sum(gains):.2f} for "
                  f"{sum(c.cost for c in chosen):.0f} lab hours{detail}")
        return Proposal(chosen=tuple(chosen), runners_up=runners, reason=reason,
                        scores={"fit_seconds": self.fit_seconds, "select_seconds": time.monotonic() - began,
                                "batch_p_hit": sum(gains)})

    def _early_replicates(self, view: CampaignView, source: str, slots: int) -> list[ScoredOption]:
        """Up to ``slots`` replicates of the running tests that forecast a hit.

        With ``replicate_misses`` ``"new-cell"`` each carries the forecast the agent holds for a
        new cell of its design (:meth:`_lab_scores`), not its running test's: the track record
        (:meth:`_track`) sets each lab test against the forecast of its launch, and a replicate
        that falls short is a miss of that forecast (the cells of a cold design split: the
        replicated one stayed flat, its replicates faded; ``benchmarks/replicates.py``).
        Otherwise it carries none (``"first-launch"`` sets it against its design's first forecast).
        """
        wanted = []
        for design_id, (design, p) in list(self.replicate_wanted.items())[:slots]:
            tests = [r for r in view.runs_of(source) if r.design_id == design_id]
            del self.replicate_wanted[design_id]
            alive = any(isinstance(r, RunningTest) or r.meets_target for r in tests)  # not stopped meanwhile
            if alive and len(tests) < view.check.replicates:
                wanted.append((design_id, design, p))
        if not wanted:
            return []
        scores = self._lab_scores(view, [w[1] for w in wanted]) \
            if self.options["replicate_misses"] == "new-cell" else None
        chosen = []
        for k, (design_id, design, p) in enumerate(wanted):
            why = f"early replicate: its running test forecasts P(meet) {p:.2f}"
            predicted: dict[str, Any] = {}
            if scores is not None:
                predicted = self._cell_forecast(view, scores, k)
                why += f", a new cell of the design {float(scores[0][k]):.2f}"
            chosen.append(ScoredOption(Option(source, design, view.protocol, replicate_of=design_id),
                                       value=p, cost=self._cost_h(view, source, design), utility=p,
                                       predicted=predicted, why=why))
        return chosen

    def _cell_forecast(self, view: CampaignView, scores: tuple[torch.Tensor, ...], k: int) -> dict[str, Any]:
        """The launch forecast of one cell of design ``k`` of :meth:`_lab_scores`' ``scores``.

        Its std is the epistemic and aleatoric stds together; ``raw_mean`` is the model's mean
        before the track record's correction, which :meth:`_track` later sets the outcome against.
        """
        p_meet, mean, epistemic, aleatoric, p_verify, bias = scores
        std = torch.sqrt(epistemic[k] ** 2 + aleatoric[k] ** 2)
        return self._predicted(mean[k], std, p_meet[k], view=view, p_verify=p_verify[k],
                               raw_mean=mean[k] - bias[k])

    # ------------------------------------------------------------------ reviewing

    def review(self, view: CampaignView) -> list[StopOrder]:
        """Stop tests that cannot or will not meet the target; ask replicates of those that forecast a hit.

        Three readings of a running test, each from ``first_review`` cycles on:

        - *already below*: its retention is below the bound, and capacity does not come back (the
          last three cycles' mean, less the cycler's noise, decides);
        - *its own fade* (:class:`~interphase.agent.fade.FadeCalibration`): where its fade is
          heading, calibrated on the campaign's full-length trajectories. It stops a test below
          ``own_stop_below`` and asks a replicate above ``replicate_above``;
        - *the model's forecast* from its first cycles: it stops below ``stop_below`` and asks a
          replicate above ``replicate_above``, once ``min_full_tests`` tests of the highest-fidelity
          source ran to the horizon (before that no forecast of the lab's last cycle has been
          checked against one, and the model's is an extrapolation from cheaper sources).

        Replicates wait for ``replicate_after_cycles`` cycles.
        """
        source = view.highest_fidelity
        running = [r for r in view.running
                   if r.source == source and r.cycles_done >= self.options["first_review"]]
        if self.surrogate is None or not running:
            return []
        orders, forecastable = [], []
        for run in running:
            below = self._already_below(view, run)
            if below is not None:
                orders.append(below)
            else:
                forecastable.append(run)
        if not forecastable:
            return orders
        local = self._local_failure(view, [r.design for r in forecastable])
        own = [self._own_fade(view, run.prefix) for run in forecastable]
        model = self._model_outlook(view, forecastable)
        readings: list[tuple[Any, float]] = []  # the tests read and kept, with their P(meet)
        for k, run in enumerate(forecastable):
            keep = 1.0 - float(local[k])  # it may still fail as its neighbours did
            p_own = None if own[k] is None else own[k] * keep
            p_model = None if model is None else float(model[0][k]) * keep
            if p_own is not None or p_model is not None:
                readings.append((run, max(p or 0.0 for p in (p_own, p_model))))
            if p_model is not None and p_model < self.options["stop_below"]:
                orders.append(StopOrder(run.request_id, run.cycles_done,
                                        f"stopped after {run.cycles_done} cycles: its forecast gives P(meet) "
                                        f"{p_model:.3f} < {self.options['stop_below']:g}",
                                        self._predicted(model[1][k], model[2][k], p_model, view=view)))
            elif p_own is not None and p_own < self.options["own_stop_below"]:
                heading = self._fade(view).final(*_trajectory(run.prefix, self._objective(view)))
                mean, std = heading if heading is not None else (math.nan, math.nan)
                orders.append(StopOrder(run.request_id, run.cycles_done,
                                        f"stopped after {run.cycles_done} cycles: its own fade heads for "
                                        f"{mean:.3f} +/- {std:.3f} at the horizon, P(meet) {p_own:.3f} < "
                                        f"{self.options['own_stop_below']:g}",
                                        self._predicted(mean, std, p_own, view=view)))
            elif run.cycles_done >= self.options["replicate_after_cycles"] \
                    and len([r for r in view.runs_of(source)
                             if r.design_id == run.design_id]) < view.check.replicates:
                p = max(p or 0.0 for p in (p_own, p_model))
                if p > self.options["replicate_above"]:
                    self.replicate_wanted.setdefault(run.design_id, (run.design, p))
        stopping = {order.request_id for order in orders}
        return orders + self._make_room(view, [(r, p) for r, p in readings if r.request_id not in stopping],
                                        freed=len(orders))

    def _make_room(self, view: CampaignView, readings: list[tuple[Any, float]],
                   freed: int) -> list[StopOrder]:
        """Stop tests whose channels are worth more to the replicates of tests heading for a hit.

        The campaign ends when a design is verified, so a channel is worth the chance of a
        verification per hour it takes. A replicate of a test whose first cycles forecast a hit
        gives ``P(meet)`` over a test's hours; a running test gives its own ``P(meet)`` over its
        planned hours left (the cost model's, by the share of its cycles still to run) plus the
        replicate's that must follow. When the replicates wished outnumber the
        free channels, the test worth least is stopped if it is worth less than the replicate
        (``make_room``). Replicates, tests wished a replicate and tests not yet read are kept.

        Args:
            view: The campaign now.
            readings: ``(running test, P(meet))`` of each test read this review and kept.
            freed: Channels this review's other stops free.
        """
        source = view.highest_fidelity
        running = {r.design_id for r in view.running if r.source == source}
        wishes = sorted(((design, p) for design_id, (design, p) in self.replicate_wanted.items()
                         if design_id in running), key=lambda wish: -wish[1])
        room = view.free.get(view.resource_of[source], 0) + freed
        if not self.options["make_room"] or len(wishes) <= room:
            return []
        replicated = {r.replicate_of for r in view.running if r.replicate_of is not None}
        candidates = [(run, p) for run, p in readings
                      if run.replicate_of is None and run.design_id not in self.replicate_wanted
                      and run.design_id not in replicated]
        orders = []
        for design, p_wish in wishes[room:]:
            hours = self._cost_h(view, source, design)
            worth = p_wish / max(hours, 1e-9)
            if not candidates:
                break
            # Hours left of its plan, from the source's cost model: when a cell will die is not known.
            left = {run.request_id: self._cost_h(view, source, run.design)
                    * max(1.0 - run.cycles_done / max(run.protocol.n_cycles, 1), 0.0)
                    for run, _ in candidates}
            run, p = min(candidates, key=lambda c: c[1] / (left[c[0].request_id] + hours))
            if p / (left[run.request_id] + hours) >= worth:
                break
            candidates.remove((run, p))
            heading = self._fade(view).final(*_trajectory(run.prefix, self._objective(view)))
            mean, std = heading if heading is not None else (math.nan, math.nan)
            orders.append(StopOrder(
                run.request_id, run.cycles_done,
                f"stopped after {run.cycles_done} cycles to free its channel for the replicate of a test "
                f"heading for a hit: P(meet) {p:.2f} over its {left[run.request_id]:.0f} h left and a "
                f"replicate's {hours:.0f} h, against {p_wish:.2f} over {hours:.0f} h",
                self._predicted(mean, std, p, view=view)))
        return orders

    def _model_outlook(self, view: CampaignView, runs: list[Any]) -> tuple[torch.Tensor, ...] | None:
        """The model's ``B`` P(meet), mean and std of the objective at the horizon for running tests.

        None until ``min_full_tests`` highest-fidelity tests ran to the horizon.
        """
        if self._full_tests(view) < self.options["min_full_tests"]:
            return None
        source = view.highest_fidelity
        batch, seen = self.surrogate.batch_with_prefix([r.design for r in runs], source,
                                                       view.protocol, [r.prefix for r in runs])
        horizon = view.protocol.n_cycles
        prediction = self.surrogate.predict_records(batch, horizon=horizon, prefix_cycles=seen, n_samples=8)
        column = self.surrogate.observable_index(self._objective(view))
        return (self._meeting(view, prediction, horizon - 1), prediction.mean[:, horizon - 1, column],
                prediction.total_std[:, horizon - 1, column])

    def _own_fade(self, view: CampaignView, observations: Sequence[Any]) -> float | None:
        """P(meet) of a test from where its own fade is heading (:class:`FadeCalibration`), or None."""
        objective = self._objective(view)
        cycles, values = _trajectory(observations, objective)
        if len(cycles) < 3:
            return None

        def meets(finals: np.ndarray, std: float) -> np.ndarray:
            mean = torch.as_tensor(finals, dtype=torch.float64)
            return _bound_probability(view, objective, mean, torch.full_like(mean, std)).numpy()

        return self._fade(view).probability(cycles, values, meets)

    def _fade(self, view: CampaignView) -> FadeCalibration:
        """The fade calibration on this campaign's full-length trajectories of the objective.

        The reference simulator's runs and the highest-fidelity tests that ran the horizon; none for
        an objective read at a condition rather than a cycle. Rebuilt when results arrive.
        """
        if self._fade_cache is not None and self._fade_cache[0] == len(view.completed):
            return self._fade_cache[1]
        objective, index = self._objective(view), self._objective_index(view)
        trajectories = []
        if not isinstance(index, float):
            sources = {self._reference(view), view.highest_fidelity}
            for run in view.completed:
                if run.source not in sources or run.result.status.value == "failed":
                    continue
                cycles, values = _trajectory(run.result.observations, objective)
                if len(cycles) and cycles[-1] >= 0.95 * index:
                    trajectories.append((cycles, values))
        fade = FadeCalibration(trajectories, horizon=int(index), scatter_std=0.1 * self._objective_scale(),
                               min_trajectories=int(self.options["fade_min_runs"]))
        self._fade_cache = (len(view.completed), fade)
        return fade

    def _already_below(self, view: CampaignView, run: Any) -> StopOrder | None:
        """A stop for a test whose objective already fell below the target's lower bound, else None."""
        objective = self._objective(view)
        bound, recent = _lower_bound(view, objective), _recent(run.prefix, objective)
        if bound is None or recent is None or recent >= bound - self.options["below_margin"]:
            return None
        return StopOrder(run.request_id, run.cycles_done,
                         f"stopped after {run.cycles_done} cycles: {objective} {recent:.3f} is already below "
                         f"the bound {bound:g} and does not recover",
                         self._predicted(recent, self.options["below_margin"], 0.0, view=view))

    def _full_tests(self, view: CampaignView) -> int:
        """Highest-fidelity tests that ran to the horizon (or failed for a cause of the design)."""
        return sum(1 for c in view.completed
                   if c.source == view.highest_fidelity and c.meets_target is not None)

    # ------------------------------------------------------------------ the numbers

    def _candidates(self, view: CampaignView) -> list[Design]:
        """Sobol points of the region plus local moves around the best finished and running designs."""
        pool = _region_sobol(view, self.options["candidates"], view.seed + 101 + self.fits)
        tested = [c for c in view.completed
                  if c.source == view.highest_fidelity and c.meets_target is not None]
        best = sorted(tested, key=lambda c: -(view.check.score(c.result) or -math.inf))[:4]
        anchors = [c.design for c in best] + [r.design for r in view.running
                                              if r.source == view.highest_fidelity]
        reference = self._reference(view)
        if view.resource_of.get(reference) == CPU:  # the designs the reference ran, as they are
            pool += self.shortlist.simulated(view, reference)
        rng = np.random.default_rng(view.seed + self.fits)
        if anchors:
            region = TargetRegion.of(view.design_space, view.target)
            z = region.to_region(anchors)
            moves = z[:, None, :] + rng.normal(0.0, 0.06,
                                               (len(anchors), self.options["local_moves"], z.shape[1]))
            pool += region.from_region(moves.reshape(-1, z.shape[1]))
        # A new launch is a new design: a design the lab tests or tested gets more cells only as
        # the replicates of a hit (a cell that fell short or was stopped below the bound is the
        # same bet lost once); one lost to an assembly defect was never tested.
        tested = {c.design.content_hash() for c in view.completed
                  if c.source == view.highest_fidelity
                  and c.result.metadata.get("failure_cause") != "assembly defect"}
        tested |= {r.design.content_hash() for r in view.running if r.source == view.highest_fidelity}
        return [d for d in pool if view.check.in_region(d) and d.content_hash() not in tested]

    def _lab_scores(self, view: CampaignView, designs: list[Design]) -> tuple[torch.Tensor, ...]:
        """Each design's lab outlook at the highest fidelity: ``B`` tensors.

        Returns:
            ``(p_meet, mean, epistemic, aleatoric, p_verify, bias)``: the probability that one
            cell meets the target and does not fail; the objective's mean; its epistemic std
            (the ensemble's, widened by the track record's uncertainty there); the aleatoric std
            of one cell; the probability that every replicate the verification needs does; and
            the track record's correction included in the mean.
        """
        objective = self._objective(view)
        reference = self._reference(view)
        raw, epistemic, aleatoric = self._reference_forecast(view, designs)
        p_fail, _ = self.surrogate.feasibility(designs, source=reference, protocol=view.protocol)
        misses, failures, _ = self._track(view)
        z = torch.as_tensor(self._region(view).to_region(designs))  # once for both corrections
        p_fail = torch.maximum(p_fail, failures.local_rate(z).to(torch.float32))
        bias = misses.local_bias(z, raw).to(torch.float32)
        mean = raw + bias
        epistemic = torch.sqrt(epistemic ** 2 + misses.local_std(z, raw).to(torch.float32) ** 2)
        total = torch.sqrt(epistemic ** 2 + aleatoric ** 2).clamp_min(1e-6)
        p_meet = _bound_probability(view, objective, mean, total) * (1.0 - p_fail)
        p_verify = _verify_probability(view, objective, mean, epistemic, aleatoric, p_fail)
        return p_meet, mean, epistemic, aleatoric, p_verify, bias

    def _reference_forecast(self, view: CampaignView,
                            designs: list[Design]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The model's forecast of the objective for the reference source, before any correction.

        Returns:
            ``B`` mean, epistemic std and aleatoric std.
        """
        objective, index = self._objective(view), self._objective_index(view)
        reference = self._reference(view)
        if objective in self.surrogate.cond_observables:
            prediction = self.surrogate.predict_conditions(designs, source=reference,
                                                           conditions=[index],
                                                           n_samples=self.options["n_samples"])
            column = self.surrogate.cond_observables.index(objective)
        else:
            prediction = self.surrogate.predict_cycles(designs, [int(index)], source=reference,
                                                       protocol=view.protocol, observables=[objective],
                                                       n_samples=self.options["n_samples"])
            column = 0
        return (prediction.mean[:, 0, column], prediction.epistemic_std[:, 0, column],
                prediction.aleatoric_std[:, 0, column])

    def _local_failure(self, view: CampaignView, designs: list[Design]) -> torch.Tensor:
        """``B`` failure rate of the highest-fidelity tests near each design (:class:`Failures`)."""
        if not designs:
            return torch.zeros(0)
        z = torch.as_tensor(self._region(view).to_region(designs))
        return self._track(view)[1].local_rate(z).to(torch.float32)

    def _track(self, view: CampaignView) -> tuple[Misses, Failures, Misses]:
        """The track record of this agent at the highest fidelity (computed once per fit).

        Each launch decision stored the forecast of the objective (a replicate's as
        ``replicate_misses`` says: none, an early replicate's for a new cell of its design, or
        its design's first test's); each test of the highest-fidelity source shows what came of
        it. Returns the misses of the tests that ran to the horizon, were stopped (at the value
        their own fade reaches by the horizon) or failed for a cause of the design (counted as
        ending at the bound, or below it where their fade was heading: the least miss a failure
        can be; their neighbours' forecasts are corrected by them, and the spread the model did
        not foresee widens every forecast: the designs an agent picks are those it overrates), the
        tests' failures, and the misses of full-length tests alone (the pooled correction of
        forecasts from a running test's first cycles). With ``cell_scatter`` ``"replicates"`` no
        miss is trusted closer than the pooled scatter of the cells of a design tested twice
        (:func:`~interphase.agent.track_record.pooled_std`).
        """
        if self._record is not None:
            return self._record
        objective, index = self._objective(view), self._objective_index(view)
        tests = [c for c in view.completed if c.source == view.highest_fidelity]
        replicates = {c.request_id: c.replicate_of for c in tests if c.replicate_of is not None} \
            if self.options["replicate_misses"] == "first-launch" else {}
        forecasts = launch_forecasts([d.chosen for d in view.store.list_decisions(view.campaign)],
                                     view.highest_fidelity, objective, replicates)
        lower = _lower_bound(view, objective)
        region = self._region(view)
        scale = self._objective_scale()
        floor = 0.1 * scale  # a cell's own scatter about its design, at least
        measured = self.options["cell_scatter"] == "replicates"
        outcomes: dict[str, tuple[float, float, bool]] = {}  # request id -> (observed, doubt, full)
        ended: dict[str, list[float]] = {}  # design id -> what its cells that did not fail reached
        for run in tests:
            if run.request_id not in forecasts and not measured:
                continue
            failed = run.result.status.value == "failed"
            if failed and run.result.metadata.get("failure_cause") == "assembly defect":
                continue  # a fault of one build, not of the design
            recent = _recent(run.result.observations, objective)
            heading = None if isinstance(index, float) or run.meets_target is not None else \
                self._fade(view).final(*_trajectory(run.result.observations, objective))
            if heading is not None:  # its fade's estimate, less the lean measured on full-length runs
                reached, doubt = heading[0], max(floor, heading[1])
            else:
                reached = _at_horizon(run.result.observations, objective, index)
                doubt = floor if recent is None or reached is None else estimate_std(recent, reached, floor)
            if failed:  # it cannot meet the target: at best it ended at the bound
                observed = lower if reached is None or lower is None else min(reached, lower)
                full = False
            elif run.meets_target is not None:
                observed = view.check.value_at(run.result.observations, objective, index)
                full, doubt = True, floor
            else:  # stopped: where its own fade would have taken it by the horizon
                observed = reached
                full = False
            if observed is not None:
                outcomes[run.request_id] = (observed, doubt, full)
                if measured and not failed:
                    ended.setdefault(run.design_id, []).append(observed)
        scatter = pooled_std(list(ended.values())) if measured else None
        rows: list[tuple[Design, float, float, bool, float, float]] = []
        for run in tests:
            if run.request_id in forecasts and run.request_id in outcomes:
                # against the model's own forecast: the correction is what is learnt
                observed, doubt, full = outcomes[run.request_id]
                forecast = forecasts[run.request_id]
                made = forecast.get("raw_mean", forecast["mean"])
                rows.append((run.design, observed - made, forecast.get("std") or 0.0, full, made,
                             doubt if scatter is None else max(doubt, scatter)))
        radius = float(self.options["miss_radius"])

        levels = [r[4] for r in rows]  # the forecasts the misses are against
        centre = lower if lower is not None else (float(np.mean(levels)) if levels else 0.0)

        def misses(chosen: list[tuple[Design, float, float, bool, float, float]]) -> Misses:
            return Misses(points=region.to_region([r[0] for r in chosen]),
                          misses=np.asarray([r[1] for r in chosen], dtype=float),
                          forecast_std=np.asarray([r[2] for r in chosen], dtype=float),
                          radius=radius, floor_std=floor, prior_std=0.5 * scale,
                          forecasts=np.asarray([r[4] for r in chosen], dtype=float),
                          level_centre=centre, level_scale=scale,
                          noise_std=np.asarray([r[5] for r in chosen], dtype=float))

        horizon = max(view.protocol.n_cycles, 1)
        design_tests = [c for c in tests if c.result.metadata.get("failure_cause") != "assembly defect"]
        failures = Failures(
            points=region.to_region([c.design for c in design_tests]),
            failed=np.asarray([float(c.result.status.value == "failed") for c in design_tests]),
            exposure=np.asarray([1.0 if c.result.status.value == "failed" or c.meets_target is not None
                                 else min(1.0, (c.result.cycles_run or 0) / horizon) for c in design_tests]),
            radius=float(self.options["failure_radius"]))
        record = misses(rows)
        if len(rows) >= self.options["miss_model_after"]:
            expected, spread = self._miss_model(record, view.seed)
            record = dataclasses.replace(record, model=expected, model_std=spread)
        self._record = (record, failures, misses([r for r in rows if r[3]]))
        return self._record

    @staticmethod
    def _miss_model(record: Misses, seed: int) -> tuple[Any, Any]:
        """A GP of the misses on the design and the forecast's level (:meth:`Misses.inputs`).

        BoTorch's SingleTaskGP, a length scale per input.

        Returns:
            ``(expected, spread)``: ``n x (d + 1) -> n`` posterior means of the miss, and their
            posterior stds (the uncertainty of the expected miss, without the misses' noise).
            BoTorch's numerical warnings are kept off the run.
        """
        from interphase.agent.strategies.gp_qlogei import TrainingData, botorch_on_record, fit_gp

        notes: list[str] = []
        forecasts = record.forecasts if record.forecasts is not None else np.zeros(len(record.misses))
        data = TrainingData(x=record.inputs(record.points, forecasts).numpy(), y=record.misses,
                            scored=len(record.misses), key=())
        with botorch_on_record(notes):
            gp = fit_gp(data, seed, noise_std=record.noise_std)

        def expected(z: torch.Tensor) -> torch.Tensor:
            with botorch_on_record(notes), torch.no_grad():
                return gp.posterior(z.to(torch.float64)).mean.squeeze(-1)

        def spread(z: torch.Tensor) -> torch.Tensor:
            with botorch_on_record(notes), torch.no_grad():
                return gp.posterior(z.to(torch.float64)).variance.clamp_min(0.0).sqrt().squeeze(-1)

        return expected, spread

    def _region(self, view: CampaignView) -> TargetRegion:
        return TargetRegion.of(view.design_space, view.target)

    def _objective_scale(self) -> float:
        """The model's typical spread of the objective (its normalisation scale)."""
        objective = self._objective_name
        norm = self.surrogate.normalisation
        if objective in self.surrogate.observables:
            return float(norm["y_scale"][self.surrogate.observables.index(objective)])
        return float(norm["cond_scale"][self.surrogate.cond_observables.index(objective)])

    def _scores(self, view: CampaignView) -> tuple[list[Design], tuple[torch.Tensor, ...]]:
        """The candidates and their lab scores, computed once per fit (the model does not change between)."""
        if self._scored is None:
            candidates = self._candidates(view)
            self._scored = (candidates, self._lab_scores(view, candidates))
        return self._scored

    def _batch(self, view: CampaignView, candidates: list[Design], scores: tuple[torch.Tensor, ...],
               q: int) -> tuple[Any, ...]:
        """Greedy batch by marginal ``P(hit)`` per lab hour, tests in flight pending."""
        from interphase.acquisition.meeting import OutputBound, greedy_batch, qProbabilityOfMeeting
        from interphase.models.acquisition_bridge import FAILURE_LOGIT, botorch_model

        p_meet, mean, epistemic, aleatoric, p_verify, _ = scores
        keep = torch.argsort(p_verify, descending=True)[:256].tolist()  # the batch search runs on the best
        shortlist = [candidates[i] for i in keep]
        objective, index = self._objective(view), self._objective_index(view)
        model = botorch_model(self.surrogate, source=self._reference(view), protocol=view.protocol,
                              targets=[(objective, index), (FAILURE_LOGIT, 0)],
                              n_samples=self.options["n_samples"], seed=view.seed)
        bounds = [OutputBound(0, b.lower, b.upper) for b in view.target.bounds if b.observable == objective]
        misses, failures, _ = self._track(view)
        # A logistic of scale s is close to a normal cdf of std 1.7 s: the indicator's smoothing
        # stands for the spread of one cell about its design's sample path. The track record's
        # uncertainty is shared by a design's cells, so it enters as shifts of the paths.
        tau = 0.6 * float(aleatoric[keep].median().clamp_min(1e-4))
        cube = lambda designs: torch.as_tensor(view.design_space.to_unit_cube(designs), dtype=torch.float64)  # noqa: E731
        region = self._region(view)
        pending = [r.design for r in view.running if r.source == view.highest_fidelity]
        # The correction depends on the reference's forecast at a design, so it is computed for
        # every design the batch search can see (the shortlist and the tests running) and looked
        # up there by the design's coordinates.
        known = shortlist + pending
        raw = torch.cat([(mean - scores[5])[keep].to(torch.float64),
                         self._reference_forecast(view, pending)[0].to(torch.float64) if pending
                         else torch.zeros(0, dtype=torch.float64)])
        z_known = torch.as_tensor(region.to_region(known), dtype=torch.float64)
        table = cube(known)
        shifts = misses.local_bias(z_known, raw).to(torch.float64)
        spreads = misses.local_std(z_known, raw).to(torch.float64)

        def lookup(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # batch x q x D -> batch x q
            nearest = torch.cdist(x.reshape(-1, x.shape[-1]).to(table), table).argmin(dim=-1)
            return values[nearest].reshape(x.shape[:-1]).to(x)

        def offset(x: torch.Tensor) -> torch.Tensor:  # batch x q x D -> batch x q x 2 (objective, logit)
            shift = lookup(shifts, x)
            return torch.stack([shift, torch.zeros_like(shift)], dim=-1)

        def offset_std(x: torch.Tensor) -> torch.Tensor:  # batch x q x D -> batch x q x 2
            spread = lookup(spreads, x)
            return torch.stack([spread, torch.zeros_like(spread)], dim=-1)

        acquisition = qProbabilityOfMeeting(
            model, bounds or [OutputBound(0, float(mean.max()))], tau=tau, failure_output=1,
            X_pending=cube(pending) if pending else None, offset=offset, offset_std=offset_std,
            survival=lambda x: 1.0 - failures.local_rate(region.cube_to_region(x)),
            replicates=max(int(view.check.replicates), 1))
        costs = torch.tensor([self._cost_h(view, view.highest_fidelity, d) for d in shortlist],
                             dtype=torch.float64)
        picks, gains, single = greedy_batch(acquisition, cube(shortlist), q, costs / costs.mean())
        full_single = torch.zeros(len(candidates), dtype=torch.float64)
        full_single[keep] = single
        return ([keep[i] for i in picks], gains, full_single, scores)

    def _meeting(self, view: CampaignView, prediction: Any, position: int) -> torch.Tensor:
        objective = self._objective(view)
        column = self.surrogate.observable_index(objective)
        full = self._track(view)[2]
        bias, extra = full.bias, full.extra_std
        mean, std = prediction.mean[:, position, column] + bias, prediction.total_std[:, position, column]
        return _bound_probability(view, objective, mean, torch.sqrt(std ** 2 + extra ** 2).clamp_min(1e-6))

    def _objective_index(self, view: CampaignView) -> int | float:
        """Where the objective is read: its ``at_index``, else the horizon.

        The ``at_index`` is a cycle, or a condition such as 253.15 K.
        """
        target = view.target
        index = target.objectives[0].at_index if target.objectives else target.bounds[0].at_index
        if index is None:
            return view.protocol.n_cycles
        return int(index) if self._objective(view) in (self.surrogate.observables if self.surrogate else ()) \
            else float(index)

    def _objective(self, view: CampaignView) -> str:
        target = view.target
        self._objective_name = (target.objectives[0].observable if target.objectives
                                else target.bounds[0].observable)
        return self._objective_name

    def _predicted(self, mean: Any, std: Any, p_meet: Any, *, view: CampaignView | None = None,
                   p_verify: Any = None, raw_mean: Any = None) -> dict[str, Any]:
        """A decision's forecast of the objective (``raw_mean``: the model's, before the track record's)."""
        mean, std = float(mean), float(std)
        name = self._objective(view) if view is not None else RETENTION
        entry = {"mean": mean, "std": std, "q05": mean - 1.6449 * std, "q95": mean + 1.6449 * std,
                 "p_meet": float(p_meet)}
        if p_verify is not None:
            entry["p_verify"] = float(p_verify)
        if raw_mean is not None:
            entry["raw_mean"] = float(raw_mean)
        return {name: entry}

    @staticmethod
    def _cost_h(view: CampaignView, source: str, design: Design) -> float:
        return price_hours(view, source, design)


def _bound_probability(view: CampaignView, observable: str, mean: torch.Tensor,
                       std: torch.Tensor) -> torch.Tensor:
    """``P(lower <= y <= upper)`` for the target's bounds on ``observable`` under ``N(mean, std^2)``."""
    normal = torch.distributions.Normal(0.0, 1.0)
    probability = torch.ones_like(mean)
    for bound in view.target.bounds:
        if bound.observable != observable:
            continue
        if bound.lower is not None:
            probability = probability * (1.0 - normal.cdf((bound.lower - mean) / std))
        if bound.upper is not None:
            probability = probability * normal.cdf((bound.upper - mean) / std)
    return probability


def _affordable_simulators(view: CampaignView, cpu_seconds: float) -> list[str]:
    """The CPU sources (lowest fidelity first) whose run of one design costs at most ``cpu_seconds``."""
    design = view.design_space.sample_sobol(1, seed=0)[0]
    return [name for name in view.sources_on(CPU)
            if view.estimate_cost(name, design, view.protocol).cpu_seconds <= cpu_seconds]


def _verify_probability(view: CampaignView, observable: str, mean: torch.Tensor, epistemic: torch.Tensor,
                        aleatoric: torch.Tensor, p_fail: torch.Tensor, draws: int = 32) -> torch.Tensor:
    """``B`` probabilities that all ``view.check.replicates`` cells of each design meet the bounds.

    The design's own value is uncertain (``N(mean, epistemic^2)``, shared by its cells); given
    it, each cell scatters by ``aleatoric`` and fails with ``p_fail``, independently. So
    ``E_f[(P(cell meets | f) (1 - p_fail))^r]``, by ``draws`` stratified normal quantiles of ``f``.
    """
    from interphase.acquisition.meeting import normal_quantiles

    replicates = max(int(view.check.replicates), 1)
    quantiles = normal_quantiles(draws, mean.dtype)
    values = mean.unsqueeze(-1) + epistemic.unsqueeze(-1) * quantiles  # B x draws
    spread = aleatoric.clamp_min(1e-6).unsqueeze(-1).expand_as(values)
    cell = _bound_probability(view, observable, values, spread)
    return ((cell * (1.0 - p_fail).unsqueeze(-1)) ** replicates).mean(dim=-1)


def _lower_bound(view: CampaignView, observable: str) -> float | None:
    """The target's highest lower bound on ``observable`` at the horizon, or None."""
    bounds = [b.lower for b in view.target.bounds
              if b.observable == observable and b.lower is not None and b.at_index is None]
    return max(bounds) if bounds else None


def _at_horizon(observations: Any, observable: str, index: int | float) -> float | None:
    """The value of a stopped or failed test's ``observable`` at cycle ``index``, from its own fade.

    :func:`~interphase.agent.track_record.horizon_estimate` for a cycle ``index``; for an
    objective read at a condition (not a cycle), the last three values' mean. None: too few values.
    """
    if isinstance(index, float):
        return _recent(observations, observable)
    return horizon_estimate(*_trajectory(observations, observable), index)


def _trajectory(observations: Any, observable: str) -> tuple[np.ndarray, np.ndarray]:
    """``(cycles, values)`` of ``observable`` in ``observations``, ``n`` each, by cycle."""
    points = sorted((o.index, o.value) for o in observations if o.observable == observable)
    return (np.asarray([p[0] for p in points], dtype=float), np.asarray([p[1] for p in points], dtype=float))


def _recent(observations: Any, observable: str) -> float | None:
    """Mean of the last three values of ``observable`` (None with fewer than three)."""
    values = [o.value for o in sorted(observations, key=lambda o: o.index) if o.observable == observable]
    return float(np.mean(values[-3:])) if len(values) >= 3 else None


def _region_sobol(view: CampaignView, n: int, seed: int) -> list[Design]:
    """``n`` scrambled Sobol designs of the target's region."""
    region = TargetRegion.of(view.design_space, view.target)
    return region.from_region(region.sobol(n, seed))


register_strategy(InterphaseAgent.name, InterphaseAgent)
