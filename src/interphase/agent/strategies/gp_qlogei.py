"""BoTorch GP with qLogEI: the benchmark's standard Bayesian-optimisation baseline.

A ``SingleTaskGP`` on the target's region (coordinates of :class:`TargetRegion`, inputs
normalised to the unit cube, outcome standardised) models the objective of full-length runs
of the highest-fidelity source, as :meth:`TargetCheck.score` gives it (a quantity to
maximise). A run that failed or was stopped enters with the worst score observed, so the GP
learns to steer away from where tests die. Until ``n_init`` results are in, designs come
from the region's Sobol sequence exactly as in trial and error; afterwards
``qLogExpectedImprovement`` over the best observed score, with the running tests as
pending points, optimised by ``botorch.optim.optimize_acqf`` (sequential greedy, ``q`` =
the free slots). Nothing runs but full-length tests on the highest-fidelity source.

The helpers here (training data, fitting under a fixed seed, posterior summaries, BoTorch's
warnings kept on record) are shared with the multi-fidelity baseline (``mf_gp``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from interphase.agent.options import Option, Proposal, ScoredOption
from interphase.agent.region import TargetRegion, is_new
from interphase.agent.strategies.pricing import price_hours
from interphase.agent.strategies.trial_and_error import ENGINE_SETTINGS, launched_on, sobol_options
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CampaignView, CompletedRun
from interphase.schema import Design, InvalidInputError, Result, ResultStatus

#: z-score of the 5 % and 95 % quantiles of a normal posterior.
Z95 = 1.6448536269514722


@contextmanager
def botorch_on_record(notes: list[str]) -> Iterator[None]:
    """Run BoTorch code with its warnings appended to ``notes`` rather than raised or printed.

    BoTorch and linear_operator warn about numerics they then handle (jitter added, a fit
    restarted); our test suite turns warnings into errors and a campaign must not die of
    one, so each distinct warning goes on the decision's record instead.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for line in dict.fromkeys(f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:200]}"
                              for w in caught if "torch.jit.script" not in str(w.message)):
        notes.append(line)


def objective_name(view: CampaignView) -> str:
    """The observable the baselines optimise: the target's first objective, else its first bound."""
    if view.target.objectives:
        return view.target.objectives[0].observable
    return view.target.bounds[0].observable


def endpoint_score(view: CampaignView, result: Result) -> float | None:
    """The objective of a result as a quantity to maximise, or None where it was not observed.

    A target without objectives is scored on its first bound: up for a lower bound, down
    for an upper one.
    """
    if view.target.objectives:
        return view.check.score(result)
    bound = view.target.bounds[0]
    value = view.check.value_at(result.observations, bound.observable, bound.at_index)
    if value is None:
        return None
    return value if bound.lower is not None else -value


def score_sign(view: CampaignView) -> float:
    """``+1`` when the score is the observable itself, ``-1`` when it is negated."""
    if view.target.objectives:
        return -1.0 if view.target.objectives[0].direction == "minimize" else 1.0
    return 1.0 if view.target.bounds[0].lower is not None else -1.0


def is_full_length(view: CampaignView, run: CompletedRun) -> bool:
    """Whether a run was planned for the whole horizon (it may still have failed or been stopped)."""
    protocol = run.result.protocol
    return protocol is None or protocol.n_cycles >= view.protocol.n_cycles


@dataclass(frozen=True)
class TrainingData:
    """What a baseline GP is fitted on.

    Attributes:
        x: ``n x d`` region coordinates (plus a fidelity column for the multi-fidelity GP).
        y: ``n`` scores (failed and stopped runs at the worst score of their fidelity).
        scored: How many of the ``n`` were observed (the rest failed or stopped).
        key: Identifies the data, so a fitted model is reused while it does not change.
    """

    x: np.ndarray
    y: np.ndarray
    scored: int
    key: tuple[Any, ...]


def training_data(view: CampaignView, region: TargetRegion, fidelities: dict[str, float]) -> TrainingData:
    """Full-length runs of the given sources in the region, scored.

    Args:
        view: The campaign now.
        region: The target's region.
        fidelities: Source -> its value in the fidelity column; with one source no column
            is added.

    Returns:
        The data (``n`` may be 0).
    """
    rows: list[tuple[Design, str, float | None]] = []
    for run in view.completed:
        if run.source not in fidelities or not is_full_length(view, run):
            continue
        if not view.check.in_region(run.design):
            continue
        score = endpoint_score(view, run.result) if run.result.status is ResultStatus.SUCCEEDED else None
        if score is None and run.result.status is ResultStatus.SUCCEEDED:
            continue  # it ran, but did not measure the objective: no information either way
        if score is not None and not math.isfinite(score):
            continue
        rows.append((run.design, run.source, score))
    observed = [s for _, _, s in rows if s is not None]
    worst_overall = min(observed) if observed else 0.0
    worst = {source: min((s for _, where, s in rows if where == source and s is not None),
                         default=worst_overall) for source in fidelities}
    y = np.asarray([worst[source] if s is None else s for _, source, s in rows], dtype=float)
    x = region.to_region([design for design, _, _ in rows])
    if len(fidelities) > 1:
        x = np.column_stack([x, [fidelities[source] for _, source, _ in rows]])
    key = tuple((run.request_id, run.result.status.value) for run in view.completed
                if run.source in fidelities)
    return TrainingData(x=x, y=y, scored=len(observed), key=key)


def fit_gp(data: TrainingData, seed: int, *, fidelity_column: bool = False,
           noise_std: np.ndarray | None = None) -> Any:
    """Fit a BoTorch GP by marginal likelihood under a fixed torch seed.

    Args:
        data: ``n x d`` inputs in the unit cube (the last column the fidelity with
            ``fidelity_column``) and ``n`` scores.
        seed: Seeds torch for the fit (restarts draw random starts).
        fidelity_column: Fit a ``SingleTaskMultiFidelityGP`` with the last column as its
            data fidelity; else a ``SingleTaskGP``.
        noise_std: ``n`` known stds of the scores (the GP's noise is then fixed to them, not
            fitted); None: a fitted homoskedastic noise.

    Returns:
        The fitted model, in eval mode (float64).
    """
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    dim = data.x.shape[1]
    train_x = torch.as_tensor(data.x, dtype=torch.float64)
    train_y = torch.as_tensor(data.y, dtype=torch.float64).unsqueeze(-1)
    unit = torch.stack([torch.zeros(dim, dtype=torch.float64), torch.ones(dim, dtype=torch.float64)])
    transforms: dict[str, Any] = {"input_transform": Normalize(d=dim, bounds=unit),
                                  "outcome_transform": Standardize(m=1)}
    if noise_std is not None:
        variance = np.asarray(noise_std, dtype=float) ** 2
        transforms["train_Yvar"] = torch.as_tensor(variance, dtype=torch.float64).unsqueeze(-1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if fidelity_column:
            model = SingleTaskMultiFidelityGP(train_x, train_y, data_fidelities=[dim - 1], **transforms)
        else:
            model = SingleTaskGP(train_x, train_y, **transforms)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    return model


class ModelCache:
    """The last GP fitted, with the warnings of its fit, reused while its training data stay the same.

    A cache only: everything in it is rebuilt from the view, so a resumed campaign loses nothing.

    Args:
        fidelity_column: Fit multi-fidelity GPs (see :func:`fit_gp`).
    """

    def __init__(self, *, fidelity_column: bool = False) -> None:
        self.fidelity_column = fidelity_column
        self._key: tuple[Any, ...] | None = None
        self._model: Any = None
        self._notes: list[str] = []

    def model(self, view: CampaignView, data: TrainingData, notes: list[str]) -> Any:
        """The GP fitted to ``data`` (fitted now if the data changed); its fit's warnings go to ``notes``."""
        key = (view.seed, data.key)
        if key != self._key:
            self._notes = []
            with botorch_on_record(self._notes):
                self._model = fit_gp(data, seed=view.seed + len(data.key),
                                     fidelity_column=self.fidelity_column)
            self._key = key
        notes.extend(self._notes)
        return self._model


def finite_or_none(values: np.ndarray) -> list[float | None]:
    """Values for the decision log, which stores JSON: non-finite ones become None."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float).reshape(-1)]


def posterior_summary(model: Any, x: np.ndarray, observable: str, sign: float) -> list[dict[str, Any]]:
    """The GP's predictive distribution of a new measurement at ``x`` (``m x d``), in the observable's unit.

    Returns:
        ``m`` entries ``{observable: {"mean", "std", "q05", "q95"}}``.
    """
    import torch

    with torch.no_grad():
        posterior = model.posterior(torch.as_tensor(x, dtype=torch.float64), observation_noise=True)
        mean = posterior.mean.squeeze(-1).numpy() * sign
        std = posterior.variance.clamp_min(0.0).sqrt().squeeze(-1).numpy()
    return [{observable: {"mean": float(m), "std": float(s), "q05": float(m - Z95 * s),
                          "q95": float(m + Z95 * s)}} for m, s in zip(mean, std, strict=True)]


def check_settings(settings: dict[str, Any], allowed: dict[str, type], strategy: str) -> None:
    """Refuse unknown settings and settings of the wrong type (the engine's own keys pass).

    Raises:
        InvalidInputError: Naming the setting.
    """
    for key, value in settings.items():
        if key in ENGINE_SETTINGS:
            continue
        if key not in allowed:
            raise InvalidInputError(f"agent.{key}", f"unknown setting of {strategy!r}; known: "
                                    f"{', '.join(sorted(allowed)) or 'none'}")
        kind = allowed[key]
        if isinstance(value, bool) or not isinstance(value, kind) or (kind is int and value < 1):
            raise InvalidInputError(f"agent.{key}", f"expected a positive {kind.__name__}, got {value!r}")


class GPqLogEI(Strategy):
    """``SingleTaskGP`` + ``qLogExpectedImprovement`` on the highest-fidelity source's endpoint.

    Settings:
        n_init: Results needed before the GP takes over from Sobol designs (default: the
            highest-fidelity resource's slots, at least 2).
        num_restarts: Restarts of ``optimize_acqf`` (default 4).
        raw_samples: Raw samples of ``optimize_acqf`` (default 256).
    """

    name = "gp-qlogei"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        check_settings(self.settings, {"n_init": int, "num_restarts": int, "raw_samples": int}, self.name)
        self._cache = ModelCache()

    def observe(self, view: CampaignView) -> None:
        """Refit the GP when new highest-fidelity results arrived."""
        region = TargetRegion.of(view.design_space, view.target)
        data = training_data(view, region, {view.highest_fidelity: 1.0})
        if self._ready(view, data):
            self._cache.model(view, data, [])

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        """Full-length highest-fidelity tests: Sobol designs first, then the qLogEI batch."""
        source = view.highest_fidelity
        if resource != view.resource_of[source] or slots < 1:
            return None
        started = time.perf_counter()
        region = TargetRegion.of(view.design_space, view.target)
        taken = region.to_region(launched_on(view, source))
        data = training_data(view, region, {source: 1.0})
        if region.dim == 0 or not self._ready(view, data):
            chosen = sobol_options(view, region, source, slots, taken, "initial Sobol point")
            if not chosen:
                return None
            return Proposal(chosen=tuple(chosen),
                            reason=f"initial design: {len(chosen)} Sobol points of the target region "
                            f"({data.y.size} of {self._n_init(view)} results before the GP)",
                            scores={"strategy": self.name, "phase": "initial", "results": int(data.y.size)})
        notes: list[str] = []
        with botorch_on_record(notes):
            proposal = self._qlogei(view, region, source, slots, taken, data, notes)
        proposal.scores["seconds"] = round(time.perf_counter() - started, 3)
        return proposal

    def _n_init(self, view: CampaignView) -> int:
        default = view.capacity.get(view.resource_of[view.highest_fidelity], 1)
        return max(2, int(self.settings.get("n_init", default)))

    def _ready(self, view: CampaignView, data: TrainingData) -> bool:
        return data.scored >= 1 and data.y.size >= self._n_init(view)

    def _qlogei(self, view: CampaignView, region: TargetRegion, source: str, slots: int, taken: np.ndarray,
                data: TrainingData, notes: list[str]) -> Proposal:
        import torch
        from botorch.acquisition.logei import qLogExpectedImprovement
        from botorch.optim import optimize_acqf

        model = self._cache.model(view, data, notes)
        pending = region.to_region([run.design for run in view.running
                                    if run.source == source and view.check.in_region(run.design)])
        best = float(data.y.max())
        unit = torch.stack([torch.zeros(region.dim), torch.ones(region.dim)]).to(torch.float64)
        with torch.random.fork_rng(devices=[]):  # the MC sampler's seed and the raw samples come from here
            torch.manual_seed(view.seed + len(data.key) + len(view.running))
            acquisition = qLogExpectedImprovement(
                model, best_f=best, X_pending=torch.as_tensor(pending) if pending.size else None)
            candidates, values = optimize_acqf(
                acquisition, bounds=unit, q=slots, num_restarts=int(self.settings.get("num_restarts", 4)),
                raw_samples=int(self.settings.get("raw_samples", 256)), sequential=True)
            x = candidates.detach().numpy().reshape(-1, region.dim)
            log_ei = np.atleast_1d(values.detach().numpy()).reshape(-1)
            keep = [i for i in range(x.shape[0])
                    if math.isfinite(log_ei[i]) and is_new(x[i], taken) and is_new(x[i], x[:i])]
            runners_up = self._runners_up(view, region, source, acquisition, model, pending, x[keep], taken)
        sign = score_sign(view)
        observable = objective_name(view)
        predicted = posterior_summary(model, x[keep], observable, sign) if keep else []
        designs = region.from_region(x[keep]) if keep else []
        chosen = []
        for i, design, prediction in zip(keep, designs, predicted, strict=True):
            ei = math.exp(float(log_ei[i]))
            at = prediction[observable]
            chosen.append(ScoredOption(
                option=Option(source=source, design=design, protocol=view.protocol),
                value=ei, cost=price_hours(view, source, design), utility=float(log_ei[i]),
                predicted=prediction,
                why=f"qLogEI {ei:.3g} at GP mean {at['mean']:.4g} ± {at['std']:.2g}"))
        if len(chosen) < slots:  # a candidate repeated a design or scored nothing: fill in from Sobol
            done = np.vstack([taken, x[keep]]) if keep else taken
            chosen += sobol_options(view, region, source, slots - len(chosen), done,
                                    "Sobol point (in place of a repeated or unscored candidate)")
        first = chosen[0].predicted.get(observable, {})
        lead = (f"qLogEI {chosen[0].value:.3g} at GP mean {first['mean']:.4g} ± {first['std']:.2g}"
                if first else "Sobol designs")
        reason = (f"{lead} (best {sign * best:.4g}); {len(chosen)} full-length {source} "
                  f"test{'s' if len(chosen) != 1 else ''}, {pending.shape[0]} pending")
        return Proposal(
            chosen=tuple(chosen), runners_up=runners_up, reason=reason,
            scores={"strategy": self.name, "phase": "qlogei", "best_score": best, "results": int(data.y.size),
                    "log_ei": finite_or_none(log_ei), "warnings": notes})

    def _runners_up(self, view: CampaignView, region: TargetRegion, source: str, acquisition: Any, model: Any,
                    pending: np.ndarray, chosen: np.ndarray, taken: np.ndarray, count: int = 3
                    ) -> tuple[ScoredOption, ...]:
        """The best few Sobol points of the region by qLogEI, given the chosen ones as pending."""
        import torch

        points = region.sobol(64, view.seed + 1)
        points = points[[is_new(z, taken) and is_new(z, chosen) for z in points]]
        if points.shape[0] == 0:
            return ()
        acquisition.set_X_pending(torch.as_tensor(np.vstack([pending, chosen])) if pending.size + chosen.size
                                  else None)
        with torch.no_grad():
            log_ei = acquisition(torch.as_tensor(points).unsqueeze(-2)).numpy()
        finite = np.flatnonzero(np.isfinite(log_ei))
        best = finite[np.argsort(-log_ei[finite])][:count]
        if best.size == 0:
            return ()
        observable = objective_name(view)
        predicted = posterior_summary(model, points[best], observable, score_sign(view))
        designs = region.from_region(points[best])
        return tuple(ScoredOption(option=Option(source=source, design=design, protocol=view.protocol),
                                  value=math.exp(float(log_ei[i])), cost=price_hours(view, source, design),
                                  utility=float(log_ei[i]), predicted=prediction,
                                  why="Sobol point, not chosen")
                     for i, design, prediction in zip(best, designs, predicted, strict=True))


register_strategy(GPqLogEI.name, GPqLogEI)
