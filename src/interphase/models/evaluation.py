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
from typing import Any

import numpy as np
import torch
from torch import Tensor

from interphase.models import metrics
from interphase.models.baselines import GPEndpointBaseline, sqrt_t_fit_many
from interphase.models.dataset import TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.surrogate import Surrogate
from interphase.models.training import steps_for

RETENTION = "Capacity retention"


def interval(prediction_quantiles: Tensor, levels: Tensor, low: float, high: float) -> tuple[Tensor, Tensor]:
    """The ``(low, high)`` quantiles of a prediction (``L x ...`` quantiles at ``levels``)."""
    lo = int(torch.argmin((levels - low).abs()))
    hi = int(torch.argmin((levels - high).abs()))
    return prediction_quantiles[lo], prediction_quantiles[hi]


def trajectory_metrics(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *,
                       n_samples: int = 32, seed: int = 0) -> dict[str, Any]:
    """Per-source accuracy and calibration of whole trajectories of the records ``rows``.

    Returns:
        ``{source: {"n_records", "coverage_90", "coverage_50", "rmse" (per observable), "nll",
        "crps"}}`` over every observed (cycle, observable) of that source's records, the
        observables standardised by the model's scale for the pooled figures.
    """
    batch = dataset.batch.index(rows)
    horizon = batch.y.shape[1]
    prediction = surrogate.predict_records(batch, horizon=horizon, n_samples=n_samples, seed=seed)
    scale = surrogate.normalisation["y_scale"]
    lo90, hi90 = interval(prediction.quantiles, prediction.levels, 0.05, 0.95)
    lo50, hi50 = interval(prediction.quantiles, prediction.levels, 0.25, 0.75)
    out: dict[str, Any] = {}
    for index, name in enumerate(dataset.source_names):
        keep = (batch.source == index) & (batch.has_result > 0)
        if not bool(keep.any()):
            continue
        mask = batch.y_mask[keep] > 0
        if not bool(mask.any()):
            continue
        y, mean, std = batch.y[keep], prediction.mean[keep], prediction.total_std[keep].clamp_min(1e-12)
        per_observable = {obs: metrics.rmse(y[..., o], mean[..., o], mask[..., o])
                          for o, obs in enumerate(dataset.observables) if bool(mask[..., o].any())}
        out[name] = {
            "n_records": int(keep.sum()),
            "n_values": int(mask.sum()),
            "coverage_90": metrics.interval_coverage(y, lo90[keep], hi90[keep], mask),
            "coverage_50": metrics.interval_coverage(y, lo50[keep], hi50[keep], mask),
            "rmse": per_observable,
            "nll_standardised": metrics.gaussian_nll(y / scale, mean / scale, std / scale, mask),
            "crps_standardised": metrics.gaussian_crps(y / scale, mean / scale, std / scale, mask),
            "reliability": _reliability(y, mean, std, mask),
        }
    return out


def _reliability(y: Tensor, mean: Tensor, std: Tensor, mask: Tensor) -> dict[str, list[float]]:
    levels, observed = metrics.quantile_coverage_curve(y, (mean, std), mask=mask)
    return {"levels": [float(v) for v in levels], "observed": [float(v) for v in observed]}


def early_prediction(surrogate: Surrogate, dataset: TrajectoryDataset, train_rows: Tensor,
                     test_rows: Tensor, *, source: str, fraction: float = 0.1, n_samples: int = 32,
                     seed: int = 0) -> dict[str, Any]:
    """Retention at the last cycle from the first ``fraction`` of cycles, against the two baselines.

    Only tests of ``source`` that reached the horizon count. Returns MAPE (%) of the model,
    of the sqrt(t) + t law and of the GP, with the number of tests.
    """
    if RETENTION not in dataset.observables or source not in dataset.source_names:
        return {"n_tests": 0}
    o = dataset.observables.index(RETENTION)
    index = dataset.source_names.index(source)
    horizon = dataset.horizon
    batch = dataset.batch

    def complete(rows: Tensor) -> Tensor:
        keep = (batch.source[rows] == index) & (batch.y_mask[rows, horizon - 1, o] > 0)
        return rows[keep]

    tests, trains = complete(test_rows), complete(train_rows)
    if len(tests) == 0:
        return {"n_tests": 0}
    prefix = max(2, math.ceil(fraction * horizon))
    held = batch.index(tests)
    observed_end = held.y[:, horizon - 1, o]
    prefixes = torch.full((len(tests),), prefix)
    prediction = surrogate.predict_records(held, horizon=horizon, prefix_cycles=prefixes, n_samples=n_samples,
                                           seed=seed)
    model_end = prediction.mean[:, horizon - 1, o]
    # Retention is relative to cycle 2, so the law's t = 0 (retention 1) is cycle 2.
    shifted = np.arange(1, prefix + 1, dtype=float) - 2.0
    law_end = torch.as_tensor(sqrt_t_fit_many(
        held.y[:, :prefix, o].numpy(), horizon - 2, mask=held.y_mask[:, :prefix, o].numpy(), cycles=shifted),
        dtype=torch.float32)
    result: dict[str, Any] = {
        "n_tests": len(tests), "prefix_cycles": prefix, "horizon": horizon,
        "mape_model": metrics.mape(observed_end, model_end),
        "mape_sqrt_t_law": metrics.mape(observed_end, law_end),
    }
    if len(trains) >= 3:
        x_train = batch.x[trains].double().numpy()
        gp = GPEndpointBaseline(seed=seed).fit(x_train, batch.y[trains, horizon - 1, o].double().numpy())
        gp_mean, _ = gp.predict(held.x.double().numpy())
        result["mape_gp"] = metrics.mape(observed_end, torch.as_tensor(gp_mean, dtype=torch.float32))
        result["n_gp_train"] = len(trains)
    return result


def feasibility_auc(surrogate: Surrogate, dataset: TrajectoryDataset, rows: Tensor, *,
                    source: str) -> dict[str, Any]:
    """ROC AUC of the predicted failure probability on the held-out records of ``source``."""
    if source not in dataset.source_names:
        return {"n": 0}
    index = dataset.source_names.index(source)
    keep = rows[(dataset.batch.source[rows] == index) & (dataset.batch.has_result[rows] > 0)]
    if len(keep) == 0:
        return {"n": 0}
    held = dataset.batch.index(keep)
    probability, _ = surrogate.ensemble.feasibility(held)
    auc = metrics.roc_auc(held.failed, probability)
    return {"n": len(keep), "failed": int(held.failed.sum()), "auc": auc}


def data_size_curve(dataset: TrajectoryDataset, train: Tensor, held: Tensor, fractions: Sequence[float],
                    config: EnsembleConfig, *, seed: int = 0, n_samples: int = 8,
                    fit: Callable[[Tensor, EnsembleConfig, str], Surrogate] | None = None) -> dict[str, Any]:
    """Epistemic std and RMSE of retention on ``held`` against the share of training designs used.

    Ensembles of ``config`` are fitted on nested shares of the training designs (designs
    without results always train). Every share gets at least the optimiser steps of the
    whole training set (``TrainConfig.min_steps``), so that the curve compares less data,
    not less training. The ensembles are not calibrated: the curve shows raw epistemic std.

    Args:
        dataset: Every record.
        train: Training record positions.
        held: Held-out record positions the curve is scored on.
        fractions: Shares of the training designs, in (0, 1].
        config: Ensemble settings of every fit.
        seed: Seeds the order in which designs are added and the predictions.
        n_samples: Latent paths per member for the predictions.
        fit: ``(rows, config, label) -> Surrogate``, e.g. with a progress bar; plain
            :meth:`Surrogate.fit` by default.

    Returns:
        ``{"observable", "members", "epochs", "points": [{"fraction", "n_designs", "n_records",
        "mean_epistemic_std", "rmse"}, ...]}``.
    """
    if RETENTION not in dataset.observables:
        return {"observable": RETENTION, "skipped": "the model does not predict it", "points": []}
    fit = fit or (lambda rows, cfg, _label: Surrogate.fit(dataset, cfg, rows=rows))
    full_steps = steps_for(len(train), config.train, config.train.epochs)
    config = config.model_copy(update={"train": config.train.model_copy(update={"min_steps": full_steps})})
    groups = dataset.design_groups()
    labelled = train[dataset.batch.has_result[train] > 0]
    unlabelled = train[dataset.batch.has_result[train] == 0]
    order = np.random.default_rng(seed).permutation(np.unique(groups[labelled].numpy()))
    column = dataset.observables.index(RETENTION)
    batch = dataset.batch.index(held)
    points = []
    for fraction in fractions:
        n_designs = max(1, math.ceil(fraction * len(order)))
        chosen = torch.from_numpy(np.isin(groups[labelled].numpy(), order[:n_designs]))
        rows = torch.sort(torch.cat([labelled[chosen], unlabelled])).values
        small = fit(rows, config, f"{fraction:g} of the designs")
        prediction = small.predict_records(batch, horizon=dataset.horizon, n_samples=n_samples, seed=seed)
        points.append({
            "fraction": fraction, "n_designs": n_designs, "n_records": len(rows),
            "mean_epistemic_std": float(prediction.epistemic_std[..., column].mean()),
            "rmse": metrics.rmse(batch.y[..., column], prediction.mean[..., column],
                                 batch.y_mask[..., column]),
        })
    return {"observable": RETENTION, "members": config.members, "epochs": config.train.epochs,
            "points": points}


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


def as_numpy(values: Tensor) -> np.ndarray:
    """A detached float64 copy, for plotting."""
    return values.detach().double().numpy()
