"""How good the model is on held-out records: calibration, accuracy, early prediction, failures.

Every figure is computed on records the model never saw (a split by design). Early
prediction conditions each held-out test on its first 10 % of cycles and compares the
predicted retention at the last cycle with two baselines: the classic SEI growth law
(``1 - a*sqrt(t) - b*t`` fitted to the prefix) and a BoTorch ``SingleTaskGP`` from the
design to the endpoint, trained on the same training records of that source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from interphase.models import metrics
from interphase.models.baselines import GPEndpointBaseline, sqrt_t_fit_many
from interphase.models.dataset import NO_SOURCE, TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.plots import TrajectoryPanel
from interphase.models.surrogate import Surrogate
from interphase.models.training import steps_for

RETENTION = "Capacity retention"
CAPACITY = "Discharge capacity [A.h]"
ASSEMBLY_DEFECT = "assembly defect"


def interval(prediction_quantiles: Tensor, levels: Tensor, low: float, high: float) -> tuple[Tensor, Tensor]:
    """The ``(low, high)`` quantiles of a prediction (``L x ...`` quantiles at ``levels``)."""
    lo = int(torch.argmin((levels - low).abs()))
    hi = int(torch.argmin((levels - high).abs()))
    return prediction_quantiles[lo], prediction_quantiles[hi]


@dataclass(frozen=True)
class HeldOutTrajectories:
    """Predictions of held-out records beside what they observed, ready to score or pool.

    Attributes:
        source_names: The dataset's source vocabulary (``source`` indexes it).
        observables: The ``O`` observables.
        source: ``N`` (long) each record's source.
        y: ``N x T x O`` observations; ``mask`` (bool) where observed.
        mean: ``N x T x O`` predictive mean; ``std`` its total std.
        low90, high90, low50, high50: ``N x T x O`` bounds of the central 90 % and 50 % intervals.
        scale: ``O`` the model's scale of each observable (for standardised scores).
    """

    source_names: list[str]
    observables: list[str]
    source: Tensor
    y: Tensor
    mask: Tensor
    mean: Tensor
    std: Tensor
    low90: Tensor
    high90: Tensor
    low50: Tensor
    high50: Tensor
    scale: Tensor

    @classmethod
    def concat(cls, parts: Sequence[HeldOutTrajectories]) -> HeldOutTrajectories:
        """Records of several predictions (e.g. the folds of a cross-validation) as one."""
        first = parts[0]
        arrays = {name: torch.cat([getattr(p, name) for p in parts]) for name in
                  ("source", "y", "mask", "mean", "std", "low90", "high90", "low50", "high50")}
        return cls(first.source_names, first.observables, scale=first.scale, **arrays)


def trajectory_outputs(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *,
                       n_samples: int = 32, seed: int = 0) -> HeldOutTrajectories:
    """Predict whole trajectories of the records ``rows`` (from their designs alone)."""
    batch = dataset.batch.index(rows)
    prediction = surrogate.predict_records(batch, horizon=batch.y.shape[1], n_samples=n_samples, seed=seed)
    lo90, hi90 = interval(prediction.quantiles, prediction.levels, 0.05, 0.95)
    lo50, hi50 = interval(prediction.quantiles, prediction.levels, 0.25, 0.75)
    labelled = (batch.has_result > 0).view(-1, 1, 1)
    return HeldOutTrajectories(
        source_names=list(dataset.source_names), observables=list(dataset.observables), source=batch.source,
        y=batch.y, mask=(batch.y_mask > 0) & labelled, mean=prediction.mean,
        std=prediction.total_std.clamp_min(1e-12), low90=lo90, high90=hi90, low50=lo50, high50=hi50,
        scale=surrogate.normalisation["y_scale"])


def trajectory_scores(outputs: HeldOutTrajectories) -> dict[str, Any]:
    """Per-source accuracy and calibration over every observed (cycle, observable).

    Returns:
        ``{source: {"n_records", "n_values", "coverage_90", "coverage_50", "coverage_90_by_observable",
        "rmse" (per observable), "nll_standardised", "crps_standardised", "reliability"}}``; the
        pooled NLL and CRPS standardise each observable by the model's scale.
    """
    out: dict[str, Any] = {}
    scale = outputs.scale
    for index, name in enumerate(outputs.source_names):
        keep = (outputs.source == index) & outputs.mask.flatten(1).any(dim=1)
        if not bool(keep.any()):
            continue
        mask = outputs.mask[keep]
        y, mean, std = outputs.y[keep], outputs.mean[keep], outputs.std[keep]
        lo90, hi90 = outputs.low90[keep], outputs.high90[keep]
        observed = [(o, obs) for o, obs in enumerate(outputs.observables) if bool(mask[..., o].any())]
        out[name] = {
            "n_records": int(keep.sum()),
            "n_values": int(mask.sum()),
            "coverage_90": metrics.interval_coverage(y, lo90, hi90, mask),
            "coverage_50": metrics.interval_coverage(y, outputs.low50[keep], outputs.high50[keep], mask),
            "coverage_90_by_observable": {obs: metrics.interval_coverage(
                y[..., o], lo90[..., o], hi90[..., o], mask[..., o]) for o, obs in observed},
            "rmse": {obs: metrics.rmse(y[..., o], mean[..., o], mask[..., o]) for o, obs in observed},
            "nll_standardised": metrics.gaussian_nll(y / scale, mean / scale, std / scale, mask),
            "crps_standardised": metrics.gaussian_crps(y / scale, mean / scale, std / scale, mask),
            "reliability": _reliability(y, mean, std, mask),
        }
    return out


def trajectory_metrics(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *,
                       n_samples: int = 32, seed: int = 0) -> dict[str, Any]:
    """Per-source accuracy and calibration of whole trajectories of the records ``rows``.

    See :func:`trajectory_scores` for what is returned.
    """
    return trajectory_scores(trajectory_outputs(surrogate, dataset, rows, n_samples=n_samples, seed=seed))


def _reliability(y: Tensor, mean: Tensor, std: Tensor, mask: Tensor) -> dict[str, list[float]]:
    levels, observed = metrics.quantile_coverage_curve(y, (mean, std), mask=mask)
    return {"levels": [float(v) for v in levels], "observed": [float(v) for v in observed]}


def early_prediction_outputs(surrogate: Surrogate, dataset: TrajectoryDataset, train_rows: Tensor,
                             test_rows: Tensor, *, source: str, fraction: float = 0.1, n_samples: int = 32,
                             seed: int = 0) -> dict[str, Any]:
    """Retention at the last cycle of each test, observed and predicted from its first cycles.

    Only tests of ``source`` that reached the horizon count. The model conditions on the
    first ``fraction`` of cycles; the sqrt(t) + t law is fitted to the same prefix; the GP
    maps the design to the endpoint, trained on the complete tests of ``source`` among
    ``train_rows`` (at least 3, else no GP figures).

    Returns:
        ``{"prefix_cycles", "horizon", "rows", "observed", "model", "model_low90",
        "model_high90", "sqrt_t_law", "gp"}``, the last lists aligned with ``rows`` (``gp``
        absent without enough training tests).
    """
    if RETENTION not in dataset.observables or source not in dataset.source_names:
        return {"rows": []}
    o = dataset.observables.index(RETENTION)
    index = dataset.source_names.index(source)
    horizon = dataset.horizon
    batch = dataset.batch

    def complete(rows: Tensor) -> Tensor:
        keep = (batch.source[rows] == index) & (batch.y_mask[rows, horizon - 1, o] > 0)
        return rows[keep]

    tests, trains = complete(test_rows), complete(train_rows)
    if len(tests) == 0:
        return {"rows": []}
    prefix = max(2, math.ceil(fraction * horizon))
    held = batch.index(tests)
    prediction = surrogate.predict_records(held, horizon=horizon,
                                           prefix_cycles=torch.full((len(tests),), prefix),
                                           n_samples=n_samples, seed=seed)
    lo90, hi90 = interval(prediction.quantiles, prediction.levels, 0.05, 0.95)
    # Retention is relative to cycle 2, so the law's t = 0 (retention 1) is cycle 2.
    shifted = np.arange(1, prefix + 1, dtype=float) - 2.0
    law_end = sqrt_t_fit_many(held.y[:, :prefix, o].numpy(), horizon - 2,
                              mask=held.y_mask[:, :prefix, o].numpy(), cycles=shifted)
    out: dict[str, Any] = {
        "prefix_cycles": prefix, "horizon": horizon, "rows": tests.tolist(),
        "observed": held.y[:, horizon - 1, o].tolist(), "model": prediction.mean[:, horizon - 1, o].tolist(),
        "model_low90": lo90[:, horizon - 1, o].tolist(), "model_high90": hi90[:, horizon - 1, o].tolist(),
        "sqrt_t_law": np.asarray(law_end, dtype=float).tolist(),
    }
    if len(trains) >= 3:
        gp = GPEndpointBaseline(seed=seed).fit(batch.x[trains].double().numpy(),
                                                batch.y[trains, horizon - 1, o].double().numpy())
        out["gp"] = gp.predict(held.x.double().numpy())[0].tolist()
        out["n_gp_train"] = len(trains)
    return out


def early_prediction_scores(outputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """MAPE (%) of the model, the sqrt(t) + t law and the GP over the pooled tests of ``outputs``.

    The GP's figure pools only the outputs that have one.
    """
    parts = [o for o in outputs if o.get("rows")]
    if not parts:
        return {"n_tests": 0}
    observed = torch.tensor([v for p in parts for v in p["observed"]])

    def mape(key: str, among: list[dict[str, Any]]) -> float:
        truth = torch.tensor([v for p in among for v in p["observed"]])
        return metrics.mape(truth, torch.tensor([v for p in among for v in p[key]]))

    low = torch.tensor([v for p in parts for v in p["model_low90"]])
    high = torch.tensor([v for p in parts for v in p["model_high90"]])
    result: dict[str, Any] = {
        "n_tests": len(observed), "prefix_cycles": parts[0]["prefix_cycles"], "horizon": parts[0]["horizon"],
        "mape_model": mape("model", parts), "mape_sqrt_t_law": mape("sqrt_t_law", parts),
        "coverage_90_model": float(((observed >= low) & (observed <= high)).float().mean()),
    }
    with_gp = [p for p in parts if "gp" in p]
    if with_gp:
        result["mape_gp"] = mape("gp", with_gp)
        result["n_gp_tests"] = sum(len(p["rows"]) for p in with_gp)
        result["n_gp_train"] = min(p["n_gp_train"] for p in with_gp)
    return result


def early_prediction(surrogate: Surrogate, dataset: TrajectoryDataset, train_rows: Tensor,
                     test_rows: Tensor, *, source: str, fraction: float = 0.1, n_samples: int = 32,
                     seed: int = 0) -> dict[str, Any]:
    """Retention at the last cycle from the first ``fraction`` of cycles, against the two baselines.

    Only tests of ``source`` that reached the horizon count. Returns MAPE (%) of the model,
    of the sqrt(t) + t law and of the GP, with the number of tests.
    """
    return early_prediction_scores([early_prediction_outputs(
        surrogate, dataset, train_rows, test_rows, source=source, fraction=fraction, n_samples=n_samples,
        seed=seed)])


def feasibility_outputs(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *,
                        source: str) -> dict[str, list[Any]]:
    """Predicted failure probability of the records of ``source`` among ``rows``, with the outcome.

    Returns:
        ``{"rows", "failed", "probability", "cause"}`` lists (cause: the source's failure
        cause, or None).
    """
    if source not in dataset.source_names:
        return {"rows": [], "failed": [], "probability": [], "cause": []}
    index = dataset.source_names.index(source)
    keep = rows[(dataset.batch.source[rows] == index) & (dataset.batch.has_result[rows] > 0)]
    if len(keep) == 0:
        return {"rows": [], "failed": [], "probability": [], "cause": []}
    held = dataset.batch.index(keep)
    probability, _ = surrogate.ensemble.feasibility(held)
    return {"rows": keep.tolist(), "failed": held.failed.tolist(), "probability": probability.tolist(),
            "cause": [dataset.records[int(r)].failure_cause for r in keep]}


def feasibility_scores(outputs: Sequence[dict[str, list[Any]]]) -> dict[str, Any]:
    """ROC AUC of the pooled failure probabilities: every failure, and design-driven ones alone.

    The second AUC leaves out failures whose cause is an assembly defect, which no design
    predicts (a random fault of the cell build).
    """
    failed = [f for o in outputs for f in o["failed"]]
    if not failed:
        return {"n": 0}
    probability = torch.tensor([p for o in outputs for p in o["probability"]])
    labels = torch.tensor(failed)
    causes = [c for o in outputs for c in o["cause"]]
    random_fault = torch.tensor([c == ASSEMBLY_DEFECT for c in causes])
    by_cause: dict[str, int] = {}
    for cause, fail in zip(causes, failed, strict=True):
        if fail:
            by_cause[cause or "unknown"] = by_cause.get(cause or "unknown", 0) + 1
    keep = ~random_fault
    return {"n": len(failed), "failed": int(labels.sum()), "failed_by_cause": by_cause,
            "auc": metrics.roc_auc(labels, probability),
            "auc_design_driven": (metrics.roc_auc(labels[keep], probability[keep]) if bool(keep.any())
                                  else math.nan)}


def feasibility_auc(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *,
                    source: str) -> dict[str, Any]:
    """ROC AUC of the predicted failure probability on the held-out records of ``source``."""
    return feasibility_scores([feasibility_outputs(surrogate, dataset, rows, source=source)])


def data_size_curve(dataset: TrajectoryDataset, train: Tensor, held: Tensor, fractions: Sequence[float],
                    config: EnsembleConfig, *, seed: int = 0, n_samples: int = 8, repeats: int = 1,
                    steps_factor: float = 1.0,
                    fit: Callable[[Tensor, EnsembleConfig, str], Surrogate] | None = None,
                    calibration: Callable[[Tensor, int], tuple[Tensor, Tensor]] | None = None
                    ) -> dict[str, Any]:
    """Epistemic std and RMSE of retention on ``held`` against the share of training designs used.

    Ensembles of ``config`` are fitted on nested shares of the training designs (designs
    without results always train). Every share gets at least ``steps_factor`` times the
    optimiser steps of the whole training set (``TrainConfig.min_steps``), so that the curve
    compares less data, not less training; a factor above 1 trains the whole set past its
    epochs too, so that no share is compared unconverged. Without ``calibration`` the ensembles
    are not calibrated and the curve shows raw epistemic std; with it, each share's designs are
    split into fitting and calibration designs, as a user of the model would, and the curve shows
    the calibrated std (the raw one is kept beside it). An ensemble that has seen little data
    agrees with itself about a flat, average trajectory: its raw spread is small because all its
    members are wrong alike, which only a check on held-out designs can show.
    With ``repeats`` > 1 each share is fitted that many times (another order of the designs,
    other member seeds) and the figures are their means: one fit per share is noisy.

    Args:
        dataset: Every record.
        train: Training record positions.
        held: Held-out record positions the curve is scored on.
        fractions: Shares of the training designs, in (0, 1].
        config: Ensemble settings of every fit.
        seed: Seeds the order in which designs are added and the predictions.
        n_samples: Latent paths per member for the predictions.
        repeats: Fits per share.
        steps_factor: Optimiser steps of every fit, as a multiple of the whole set's.
        fit: ``(rows, config, label) -> Surrogate``, e.g. with a progress bar; plain
            :meth:`Surrogate.fit` by default.
        calibration: ``(rows, repeat) -> (fit rows, calibration rows)``, split by design; None
            to leave the ensembles uncalibrated.

    Returns:
        ``{"observable", "members", "epochs", "repeats", "calibrated", "points": [{"fraction",
        "n_designs", "n_records", "mean_epistemic_std", "raw_epistemic_std", "rmse",
        "epistemic_std_runs", "raw_epistemic_std_runs", "rmse_runs", "epistemic_std_by_source"},
        ...]}``.
    """
    if RETENTION not in dataset.observables:
        return {"observable": RETENTION, "skipped": "the model does not predict it", "points": []}
    fit = fit or (lambda rows, cfg, _label: Surrogate.fit(dataset, cfg, rows=rows))
    full_steps = math.ceil(steps_factor * steps_for(len(train), config.train, config.train.epochs))
    config = config.model_copy(update={"train": config.train.model_copy(update={"min_steps": full_steps})})
    groups = dataset.design_groups()
    labelled = train[dataset.batch.has_result[train] > 0]
    unlabelled = train[dataset.batch.has_result[train] == 0]
    column = dataset.observables.index(RETENTION)
    batch = dataset.batch.index(held)
    runs: dict[float, list[tuple[float, float, int, int, dict[str, float], float]]] = {
        f: [] for f in fractions}
    for repeat in range(repeats):
        order = np.random.default_rng(seed + repeat).permutation(np.unique(groups[labelled].numpy()))
        members = config.model_copy(update={"seed": config.seed + 100 * repeat})
        for fraction in fractions:
            n_designs = max(1, math.ceil(fraction * len(order)))
            chosen = torch.from_numpy(np.isin(groups[labelled].numpy(), order[:n_designs]))
            rows = torch.sort(torch.cat([labelled[chosen], unlabelled])).values
            fitted, calibrating = calibration(rows, repeat) if calibration is not None else (rows, None)
            small = fit(fitted, members, f"{fraction:g} of the designs ({repeat + 1}/{repeats})")
            raw = small.predict_records(batch, horizon=dataset.horizon, n_samples=n_samples, seed=seed)
            prediction = raw
            if calibrating is not None:
                small.calibrate(dataset, calibrating)
                prediction = small.predict_records(batch, horizon=dataset.horizon, n_samples=n_samples,
                                                   seed=seed)
            epistemic = prediction.epistemic_std[..., column].mean(dim=-1)
            by_source = {name: float(epistemic[batch.source == i].mean())
                         for i, name in enumerate(dataset.source_names) if bool((batch.source == i).any())}
            runs[fraction].append((float(epistemic.mean()),
                                   metrics.rmse(batch.y[..., column], prediction.mean[..., column],
                                                batch.y_mask[..., column]), n_designs, len(rows), by_source,
                                   float(raw.epistemic_std[..., column].mean())))
    points = []
    for fraction, values in runs.items():
        points.append({"fraction": fraction, "n_designs": values[0][2], "n_records": values[0][3],
                       "mean_epistemic_std": float(np.mean([v[0] for v in values])),
                       "raw_epistemic_std": float(np.mean([v[5] for v in values])),
                       "raw_epistemic_std_runs": [v[5] for v in values],
                       "rmse": float(np.mean([v[1] for v in values])),
                       "epistemic_std_runs": [v[0] for v in values], "rmse_runs": [v[1] for v in values],
                       "epistemic_std_by_source": {name: float(np.mean([v[4][name] for v in values]))
                                                   for name in values[0][4]}})
    return {"observable": RETENTION, "members": config.members, "epochs": config.train.epochs,
            "repeats": repeats, "steps": full_steps, "calibrated": calibration is not None, "points": points}


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines for people: coverage per source, early prediction, feasibility."""
    lines = []
    for source, figures in report.get("trajectories", {}).items():
        lines.append(f"{source}: {figures['n_records']} records, coverage 90% {figures['coverage_90']:.3f}, "
                     f"50% {figures['coverage_50']:.3f}, CRPS {figures['crps_standardised']:.3f}")
    early = report.get("early_prediction", {})
    if early.get("n_tests"):
        gp = f", GP {early['mape_gp']:.2f}%" if "mape_gp" in early else ""
        lines.append(f"early prediction ({early['n_tests']} tests, first {early['prefix_cycles']} cycles): "
                     f"model {early['mape_model']:.2f}%, sqrt(t)+t law {early['mape_sqrt_t_law']:.2f}%{gp}")
    auc = report.get("feasibility", {})
    if auc.get("n"):
        value = "n/a (one class only)" if not math.isfinite(auc["auc"]) else f"{auc['auc']:.3f}"
        lines.append(f"feasibility AUC {value} on {auc['n']} records ({auc['failed']} failed)")
    return lines


def trajectory_panels(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *, per_source: int = 3,
                      n_samples: int = 32, seed: int = 0) -> list[list[TrajectoryPanel]]:
    """Retention and capacity of a few records per source among ``rows``, observed and predicted.

    Returns:
        One row of panels per record (one panel per observable), for ``plots.trajectory_figure``.
    """
    columns = [dataset.observables.index(name) for name in (RETENTION, CAPACITY)
               if name in dataset.observables]
    batch = dataset.batch
    chosen: list[int] = []
    for index, name in enumerate(dataset.source_names):
        if name != NO_SOURCE:
            found = [int(r) for r in rows if int(batch.source[r]) == index
                     and bool((batch.y_mask[r][:, columns] > 0).any())]
            chosen.extend(found[:per_source])
    if not chosen or not columns:
        return []
    records = batch.index(torch.tensor(chosen))
    prediction = surrogate.predict_records(records, horizon=dataset.horizon, n_samples=n_samples, seed=seed)
    lo50, hi50 = interval(prediction.quantiles, prediction.levels, 0.25, 0.75)
    lo90, hi90 = interval(prediction.quantiles, prediction.levels, 0.05, 0.95)
    cycles = np.arange(1, dataset.horizon + 1)
    panels = []
    for i, row in enumerate(chosen):
        info = dataset.records[row]
        title = f"{info.source}, record {(info.result_id or '')[:8]}"
        observed = np.where(as_numpy(records.y_mask[i]) > 0, as_numpy(records.y[i]), np.nan)
        panels.append([TrajectoryPanel(
            title=title, observable=dataset.observables[o], cycles=cycles, observed=observed[:, o],
            mean=as_numpy(prediction.mean[i, :, o]),
            band_50=(as_numpy(lo50[i, :, o]), as_numpy(hi50[i, :, o])),
            band_90=(as_numpy(lo90[i, :, o]), as_numpy(hi90[i, :, o]))) for o in columns])
    return panels


def as_numpy(values: Tensor) -> np.ndarray:
    """A detached float64 copy, for plotting."""
    return values.detach().double().numpy()
