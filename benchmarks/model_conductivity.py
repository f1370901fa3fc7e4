"""The model on real data: 5-fold cross-validation by formulation on the Münster HTE conductivity data.

Each of the 85 measured formulations (solvent ratio r, LiPF6 molality c) is one record of the
``hte-robot`` source: its replicate-mean conductivity at up to ten temperatures (243.15 to
333.15 K), the condition-indexed observable ``Conductivity [S.m-1]``. Folds split the
formulations, never the temperatures of one. Per fold, the model (``--members`` networks) is
fitted on the training formulations, 15 % of which calibrate its variance first, and predicts
the held-out ones at every temperature; a BoTorch ``SingleTaskGP`` on (r, c, T) -> k, fitted on
the same training points, is the baseline.

Usage:
    python benchmarks/model_conductivity.py [--folds 5] [--members 5] [--epochs 300] [--seed 0]
        [--out DIR]

Writes ``model_conductivity.json`` (per fold and pooled: RMSE in mS/cm, 90 % and 50 % coverage,
also at 253.15 K, the world's target temperature) and ``model_conductivity.png`` (predicted
against measured, both models) under ``benchmarks/results/``, and prints one line per model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from interphase.models import evaluation
from interphase.models.baselines import GPEndpointBaseline
from interphase.models.dataset import TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.surrogate import Surrogate
from interphase.models.training import TrainConfig
from interphase.schema import CampaignSpec, Observation
from interphase.sources import world_source
from interphase.sources.world import load_world
from interphase.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
CONDUCTIVITY = "Conductivity [S.m-1]"
S_PER_M_TO_MS_PER_CM = 10.0
TARGET_K = 253.15


def measured_records(store: Store, world_name: str = "electrolyte-conductivity") -> tuple[Any, Any]:
    """Store one ``hte-robot`` result per measured formulation: its replicate means, no added noise."""
    world = load_world(world_name)
    source = world_source(world, "hte-robot")
    spec = CampaignSpec(name="hte-cv", design_space=world.design_space, protocol=world.protocol,
                        sources=tuple(world.sources), seed=0)
    store.create_campaign(spec)
    store.register_source(source.spec)
    by_formulation: dict[tuple[float, ...], list[Observation]] = {}
    noise = source.table.noise[CONDUCTIVITY]
    for (observable, condition), measured in sorted(source.table.slices.items()):
        for point, value in zip(measured.points, measured.values, strict=True):
            by_formulation.setdefault(tuple(float(v) for v in point), []).append(Observation(
                observable=observable, index=condition, index_unit="K", value=float(value),
                std=noise.std_at(float(value)), unit="S/m"))
    for i, (point, observations) in enumerate(sorted(by_formulation.items())):
        design = world.design_space.validate_design(dict(zip(world.design_space.names, point, strict=True)))
        result = source.run(design, world.protocol, seed=i)
        result = result.model_copy(update={"observations": tuple(observations)})
        store.submit_result(result, idempotency_key=f"hte-cv:{i}", campaign=spec.name)
    return world, source


def gp_fold(dataset: TrajectoryDataset, train: torch.Tensor, test: torch.Tensor, seed: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """GP mean and predictive std (with noise) at every (test formulation, temperature), in S/m."""
    conditions = np.asarray(dataset.conditions)
    t_unit = (conditions - conditions.min()) / (conditions.max() - conditions.min())

    def points(rows: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = dataset.batch.x[rows].double().numpy()
        y = dataset.batch.cond_y[rows, :, 0].double().numpy()
        mask = dataset.batch.cond_mask[rows, :, 0].numpy() > 0
        grid = np.concatenate([np.repeat(x[:, None, :], len(t_unit), axis=1),
                               np.broadcast_to(t_unit[None, :, None], (len(x), len(t_unit), 1))], axis=-1)
        return grid, y, mask

    x_train, y_train, m_train = points(train)
    gp = GPEndpointBaseline(seed=seed).fit(x_train[m_train], y_train[m_train])
    x_test, _, _ = points(test)
    mean, std = gp.predict(x_test.reshape(-1, x_test.shape[-1]))
    return mean.reshape(x_test.shape[:2]), std.reshape(x_test.shape[:2])


def scores(y: np.ndarray, mask: np.ndarray, mean: np.ndarray, low90: np.ndarray, high90: np.ndarray,
           low50: np.ndarray, high50: np.ndarray, conditions: np.ndarray) -> dict[str, Any]:
    """RMSE (mS/cm) and interval coverage over the observed entries, and at the target temperature."""
    def block(select: np.ndarray) -> dict[str, float]:
        values = y[select]
        return {"n": int(select.sum()),
                "rmse_ms_cm": float(np.sqrt(np.mean((mean[select] - values) ** 2)) * S_PER_M_TO_MS_PER_CM),
                "coverage_90": float(np.mean((values >= low90[select]) & (values <= high90[select]))),
                "coverage_50": float(np.mean((values >= low50[select]) & (values <= high50[select])))}

    at_target = mask & np.isclose(conditions, TARGET_K)[None, :]
    return {"all": block(mask), "at_253_15_K": block(at_target)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(f"sqlite:///{Path(scratch) / 'hte.db'}")
        store.init()
        world, _ = measured_records(store)
        dataset = TrajectoryDataset.from_store(store, world.design_space, cond_observables=[CONDUCTIVITY],
                                               include_unlabelled=False)
        store.close()
    conditions = np.asarray(dataset.conditions)
    y = dataset.batch.cond_y[:, :, 0].numpy()
    mask = dataset.batch.cond_mask[:, :, 0].numpy() > 0
    keys = ("mean", "low90", "high90", "low50", "high50")
    predictions = {name: {key: np.full_like(y, np.nan) for key in keys} for name in ("model", "gp")}
    config = EnsembleConfig(members=args.members, seed=args.seed, train=TrainConfig(epochs=args.epochs))
    folds_out: list[dict[str, Any]] = []
    folds = dataset.folds(args.folds, args.seed)
    with Progress() as progress:
        bar = progress.add_task("folds", total=len(folds))
        for fold, (train, test) in enumerate(folds):
            order = np.random.default_rng(args.seed + fold).permutation(train.numpy())
            n_calibration = max(1, round(0.15 * len(order)))
            calibration, fit_rows = torch.from_numpy(np.sort(order[:n_calibration])), torch.from_numpy(
                np.sort(order[n_calibration:]))
            started = time.monotonic()
            surrogate = Surrogate.fit(dataset, config, rows=fit_rows)
            surrogate.calibrate(dataset, calibration)
            fit_seconds = time.monotonic() - started
            designs = [dataset.records[i].design for i in test.tolist()]
            prediction = surrogate.predict_conditions(designs, source="hte-robot")
            rows = test.numpy()
            model = predictions["model"]
            model["mean"][rows] = prediction.mean[:, :, 0].numpy()
            for name, (low, high) in {"90": (0.05, 0.95), "50": (0.25, 0.75)}.items():
                lo, hi = evaluation.interval(prediction.quantiles, prediction.levels, low, high)
                model[f"low{name}"][rows], model[f"high{name}"][rows] = lo[..., 0].numpy(), hi[..., 0].numpy()
            gp_mean, gp_std = gp_fold(dataset, train, test, args.seed)
            gp = predictions["gp"]
            gp["mean"][rows] = gp_mean
            gp["low90"][rows], gp["high90"][rows] = gp_mean - 1.6449 * gp_std, gp_mean + 1.6449 * gp_std
            gp["low50"][rows], gp["high50"][rows] = gp_mean - 0.6745 * gp_std, gp_mean + 0.6745 * gp_std
            fold_mask = np.zeros_like(mask)
            fold_mask[rows] = mask[rows]
            folds_out.append({
                "fold": fold, "train_formulations": len(fit_rows),
                "calibration_formulations": len(calibration),
                "test_formulations": len(test), "fit_seconds": fit_seconds,
                **{name: scores(y, fold_mask, **p, conditions=conditions)["all"]
                   for name, p in predictions.items()},
            })
            progress.advance(bar)
    report = {
        "data": "hte_conductivity_EC_PC_EMC_LiPF6.csv (BIG-MAP/SR-electrolytes, Flores et al. 2022)",
        "formulations": len(dataset), "conditions_k": conditions.tolist(), "folds": args.folds,
        "members": args.members, "epochs": args.epochs, "seed": args.seed,
        "pooled": {name: scores(y, mask, **p, conditions=conditions) for name, p in predictions.items()},
        "per_fold": folds_out, "wall_seconds": time.monotonic() - began,
        "mean_fit_seconds": float(np.mean([f["fit_seconds"] for f in folds_out])),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_conductivity.json").write_text(json.dumps(report, indent=1))
    plot(y, mask, predictions, args.out / "model_conductivity.png", report["pooled"])
    for name, pooled in report["pooled"].items():
        print(f"{name}: RMSE {pooled['all']['rmse_ms_cm']:.3f} mS/cm, 90 % coverage "
              f"{pooled['all']['coverage_90']:.3f}, 50 % {pooled['all']['coverage_50']:.3f}; at 253.15 K "
              f"RMSE {pooled['at_253_15_K']['rmse_ms_cm']:.3f} mS/cm")
    print(f"wrote {args.out / 'model_conductivity.json'} in {report['wall_seconds']:.0f} s")
    return 0


def plot(y: np.ndarray, mask: np.ndarray, predictions: dict[str, dict[str, np.ndarray]], path: Path,
         pooled: dict[str, Any]) -> None:
    """Predicted against measured conductivity, with the 90 % intervals, for both models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    measured = y[mask] * S_PER_M_TO_MS_PER_CM
    for axis, (name, p) in zip(axes, predictions.items(), strict=True):
        mean = p["mean"][mask] * S_PER_M_TO_MS_PER_CM
        low, high = p["low90"][mask] * S_PER_M_TO_MS_PER_CM, p["high90"][mask] * S_PER_M_TO_MS_PER_CM
        axis.errorbar(measured, mean, yerr=[mean - low, high - mean], fmt="o", ms=2.5, alpha=0.45,
                      elinewidth=0.6)
        top = float(max(measured.max(), mean.max())) * 1.05
        axis.plot([0, top], [0, top], "k--", lw=0.8)
        figures = pooled[name]["all"]
        axis.set_title(f"{'interphase model' if name == 'model' else 'SingleTaskGP'}: RMSE "
                       f"{figures['rmse_ms_cm']:.2f} mS/cm, 90 % cov. {figures['coverage_90']:.2f}")
        axis.set_xlabel("measured conductivity [mS/cm]")
    axes[0].set_ylabel("predicted (held-out formulations) [mS/cm]")
    figure.suptitle("HTE conductivity, 5-fold cross-validation by formulation (90 % intervals)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
