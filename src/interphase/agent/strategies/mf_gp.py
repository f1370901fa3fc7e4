"""BoTorch multi-fidelity GP with cost-aware max-value entropy search: the benchmark's third baseline.

Two sources only: the highest-fidelity one (fidelity 1.0) and the cheapest simulation that
measures the objective (fidelity 0.0), both run for the world's whole protocol. A
``SingleTaskMultiFidelityGP`` (region coordinates plus a fidelity column, inputs normalised,
outcome standardised) models the score of both, failed and stopped runs entering at the worst
score of their fidelity. ``qMultiFidelityMaxValueEntropy`` measures what a run tells about the
maximum at fidelity 1 (``project_to_target_fidelity``), divided by its cost
(``InverseCostWeightedUtility`` over an ``AffineFidelityCostModel`` through both sources' prices:
the hours the campaign's clock charges each, lab hours for a source priced in them, CPU time
otherwise, never zero; :mod:`.pricing`). A cheap source on the CPU that is priced in lab hours
alone (an instrument without channels) is priced in those.

The engine asks per resource. For the lab the acquisition is optimised with the fidelity
fixed at 1 and the best designs are always proposed (a lab is never left idle while its
acquisition is finite); for ``"cpu"`` at fidelity 0, and the simulations are proposed only
if their information per hour is at least the lab's best (otherwise the CPU waits). Until
``n_init`` results are in, both resources run the region's Sobol sequence, as in trial and
error. Simulations stop at ``max_simulations`` runs: they cost next to nothing per hour, so
the cost-aware rule alone would run them for ever and the GP's fit (cubic in its data) with
them. A world without such a simulation (or whose highest fidelity runs on the CPU) has
nothing to trade, and the strategy behaves as ``gp-qlogei``.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import numpy as np

from interphase.agent.options import Option, Proposal, ScoredOption
from interphase.agent.region import TargetRegion, is_new
from interphase.agent.strategies.gp_qlogei import (
    GPqLogEI,
    ModelCache,
    TrainingData,
    botorch_on_record,
    check_settings,
    finite_or_none,
    objective_name,
    posterior_summary,
    score_sign,
    training_data,
)
from interphase.agent.strategies.pricing import price_hours
from interphase.agent.strategies.trial_and_error import launched_on, sobol_options
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CPU, CampaignView

LAB_FIDELITY = 1.0
SIM_FIDELITY = 0.0
DEFAULTS = {"num_fantasies": 8, "candidate_set": 256, "num_restarts": 2, "raw_samples": 64}


def cheap_simulation(view: CampaignView) -> str | None:
    """The CPU source that measures the objective at the least price (at the region's centre), or None."""
    observable = objective_name(view)
    if view.resource_of[view.highest_fidelity] == CPU:
        return None
    region = TargetRegion.of(view.design_space, view.target)
    centre = region.from_region(np.full((1, region.dim), 0.5))[0]
    simulations = [name for name in view.sources_on(CPU) if observable in view.sources[name].observables]
    if not simulations:
        return None
    return min(simulations,
               key=lambda name: (price_hours(view, name, centre), view.sources[name].fidelity, name))


class MultiFidelityGP(Strategy):
    """``SingleTaskMultiFidelityGP`` + cost-aware ``qMultiFidelityMaxValueEntropy``.

    Settings:
        n_init: Results (both fidelities) before the GP takes over from Sobol designs
            (default: the lab's channels, at least 2).
        num_fantasies: Fantasy models for pending runs (default 8).
        candidate_set: Sobol points of the region that discretise the max value (default 256).
        num_restarts: Restarts of ``optimize_acqf`` (default 2).
        raw_samples: Raw samples of ``optimize_acqf`` (default 64).
        max_simulations: Simulation runs in all, launched or finished (default 16 per free
            variable of the region).
    """

    name = "mf-gp"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        allowed = {"n_init": int, "max_simulations": int, **{key: int for key in DEFAULTS}}
        check_settings(self.settings, allowed, self.name)
        self._single = GPqLogEI({key: value for key, value in self.settings.items() if key == "n_init"})
        self._cache = ModelCache(fidelity_column=True)

    def observe(self, view: CampaignView) -> None:
        """Refit the GP when new results of either fidelity arrived."""
        cheap = cheap_simulation(view)
        if cheap is None:
            self._single.observe(view)
            return
        region = TargetRegion.of(view.design_space, view.target)
        data = training_data(view, region, self._fidelities(view, cheap))
        if self._ready(view, data):
            self._cache.model(view, data, [])

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        """Lab tests at fidelity 1 on the lab, simulations at fidelity 0 on the CPU, both full-length."""
        cheap = cheap_simulation(view)
        if cheap is None:
            return self._single.propose(view, resource, slots)
        lab = view.highest_fidelity
        if resource == view.resource_of[lab]:
            source, fidelity = lab, LAB_FIDELITY
        elif resource == CPU:
            source, fidelity = cheap, SIM_FIDELITY
        else:
            return None
        if slots < 1:
            return None
        started = time.perf_counter()
        region = TargetRegion.of(view.design_space, view.target)
        if source == cheap:
            slots = min(slots, self._max_simulations(region) - len(view.runs_of(cheap)))
            if slots < 1:
                return None
        taken = region.to_region(launched_on(view, source))
        data = training_data(view, region, self._fidelities(view, cheap))
        if region.dim == 0 or not self._ready(view, data):
            chosen = sobol_options(view, region, source, slots, taken, "initial Sobol point")
            if not chosen:
                return None
            return Proposal(chosen=tuple(chosen),
                            reason=f"initial design: {len(chosen)} Sobol points for {source} "
                            f"({data.y.size} of {self._n_init(view)} results before the GP)",
                            scores={"strategy": self.name, "phase": "initial", "results": int(data.y.size)})
        notes: list[str] = []
        with botorch_on_record(notes):
            proposal = self._mes(view, region, source, fidelity, slots, taken, data, cheap, notes)
        if proposal is not None:
            proposal.scores["seconds"] = round(time.perf_counter() - started, 3)
        return proposal

    def _fidelities(self, view: CampaignView, cheap: str) -> dict[str, float]:
        return {view.highest_fidelity: LAB_FIDELITY, cheap: SIM_FIDELITY}

    def _n_init(self, view: CampaignView) -> int:
        default = view.capacity.get(view.resource_of[view.highest_fidelity], 1)
        return max(2, int(self.settings.get("n_init", default)))

    def _ready(self, view: CampaignView, data: TrainingData) -> bool:
        return data.scored >= 1 and data.y.size >= self._n_init(view)

    def _max_simulations(self, region: TargetRegion) -> int:
        return int(self.settings.get("max_simulations", 16 * max(1, region.dim)))

    def _setting(self, key: str) -> int:
        return int(self.settings.get(key, DEFAULTS[key]))

    def _cost_hours(self, view: CampaignView, region: TargetRegion, cheap: str) -> tuple[float, float]:
        """Mean full-length prices of the cheap source and of the lab over 8 Sobol designs.

        Both are clock hours (:func:`.pricing.price_hours`), strictly positive.
        """
        designs = region.from_region(region.sobol(8, view.seed)) if region.dim else region.from_region(
            np.empty((1, 0)))
        sim = float(np.mean([price_hours(view, cheap, design) for design in designs]))
        lab = float(np.mean([price_hours(view, view.highest_fidelity, design) for design in designs]))
        return sim, lab

    def _mes(self, view: CampaignView, region: TargetRegion, source: str, fidelity: float, slots: int,
             taken: np.ndarray, data: TrainingData, cheap: str, notes: list[str]) -> Proposal | None:
        import torch
        from botorch.acquisition.cost_aware import InverseCostWeightedUtility
        from botorch.acquisition.max_value_entropy_search import qMultiFidelityMaxValueEntropy
        from botorch.acquisition.utils import project_to_target_fidelity
        from botorch.models.cost import AffineFidelityCostModel
        from botorch.optim import optimize_acqf

        model = self._cache.model(view, data, notes)
        dim = region.dim + 1
        fidelities = self._fidelities(view, cheap)
        running = [run for run in view.running
                   if run.source in fidelities and view.check.in_region(run.design)]
        pending = np.column_stack([region.to_region([run.design for run in running]),
                                   [fidelities[run.source] for run in running]]) if running else None
        sim_h, lab_h = self._cost_hours(view, region, cheap)
        cost_model = AffineFidelityCostModel(fidelity_weights={dim - 1: lab_h - sim_h}, fixed_cost=sim_h)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(view.seed + len(data.key) + len(view.running))
            candidate_set = torch.as_tensor(region.sobol(self._setting("candidate_set"), view.seed + 2))
            acquisition = qMultiFidelityMaxValueEntropy(
                model, candidate_set=candidate_set, num_fantasies=self._setting("num_fantasies"),
                cost_aware_utility=InverseCostWeightedUtility(cost_model=cost_model),
                project=partial(project_to_target_fidelity, target_fidelities={dim - 1: LAB_FIDELITY}, d=dim),
                X_pending=None if pending is None else torch.as_tensor(pending))
            bounds = torch.stack([torch.zeros(dim), torch.ones(dim)]).to(torch.float64)
            candidates, values = optimize_acqf(
                acquisition, bounds=bounds, q=slots, num_restarts=self._setting("num_restarts"),
                raw_samples=self._setting("raw_samples"), fixed_features={dim - 1: fidelity}, sequential=True)
            lab_best = None
            if fidelity != LAB_FIDELITY:  # is a simulation worth its hour as much as a lab test its hour?
                probes = self._setting("raw_samples")
                probe = torch.as_tensor(np.column_stack([region.sobol(probes, view.seed + 3),
                                                         np.full(probes, LAB_FIDELITY)]))
                with torch.no_grad():
                    lab_best = float(acquisition(probe.unsqueeze(-2)).max())
        x = candidates.detach().numpy().reshape(-1, dim)
        utility = np.atleast_1d(values.detach().numpy()).reshape(-1)
        unit_cost = sim_h + (lab_h - sim_h) * fidelity
        if source != view.highest_fidelity and not np.isfinite(utility).any():
            return None
        if lab_best is not None and math.isfinite(lab_best) and not utility[0] >= lab_best:
            return None  # an hour of simulation would tell less than an hour of the lab: the CPU waits
        keep = [i for i in range(x.shape[0])
                if np.isfinite(utility[i]) and is_new(x[i, :-1], taken) and is_new(x[i, :-1], x[:i, :-1])]
        observable = objective_name(view)
        predicted = posterior_summary(model, x[keep], observable, score_sign(view)) if keep else []
        designs = region.from_region(x[keep, :-1]) if keep else []
        chosen = []
        for i, design, prediction in zip(keep, designs, predicted, strict=True):
            gain = float(utility[i]) * unit_cost
            at = prediction[observable]
            chosen.append(ScoredOption(
                option=Option(source=source, design=design, protocol=view.protocol), value=gain,
                cost=price_hours(view, source, design), utility=float(utility[i]), predicted=prediction,
                why=f"MF-MES {gain:.3g} nats at fidelity {fidelity:g}, "
                    f"GP mean {at['mean']:.4g} ± {at['std']:.2g}"))
        if len(chosen) < slots and source == view.highest_fidelity:  # never leave a lab channel idle
            done = np.vstack([taken, x[keep, :-1]]) if keep else taken
            chosen += sobol_options(view, region, source, slots - len(chosen), done,
                                    "Sobol point (in place of a repeated or unscored candidate)")
        if not chosen:
            return None
        versus = "" if lab_best is None else f" >= lab {lab_best:.3g}"
        first = chosen[0]
        lead = (f"MF-MES {first.value:.3g} nats / {unit_cost:.3g} h = {first.utility:.3g} per hour{versus}"
                if keep else "MF-MES scored no new design, so Sobol designs")
        reason = (f"{lead}; {len(chosen)} full-length {source} run{'s' if len(chosen) != 1 else ''} at "
                  f"fidelity {fidelity:g}, {len(running)} pending")
        return Proposal(chosen=tuple(chosen), reason=reason, scores={
            "strategy": self.name, "phase": "mf-mes", "fidelity": fidelity, "results": int(data.y.size),
            "cost_hours": {"simulation": sim_h, "lab": lab_h}, "utility": finite_or_none(utility),
            "lab_best_utility": lab_best, "simulation": cheap, "warnings": notes})


register_strategy(MultiFidelityGP.name, MultiFidelityGP)
