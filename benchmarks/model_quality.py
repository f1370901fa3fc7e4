"""Model quality on held-out designs: calibration, early prediction, multi-fidelity gain, epistemic behaviour.

Data: the store that ``benchmarks/model_data.py`` fills (sei-life: pybamm-spm, pybamm-dfn and
lab-cell trajectories over the 200-cycle horizon). The designs with results are dealt into
``--folds`` folds, stratified by source and failure, so that each fold holds out 20 % of the
designs (five folds) and every fold gets its share of the few failed lab cells. In each fold,
15 % of the training designs (stratified the same way) calibrate the variance and the rest
train; every figure below is computed on held-out designs only, and pooled over the folds
(each held-out record is predicted by the one model that never saw it). Fold 0 alone is the
plain 20 % holdout; its figures are reported too.

1. Per source: coverage of the central 50 % and 90 % intervals, RMSE, CRPS, NLL.
2. Early prediction: lab-cell retention at the last cycle from the first 10 % of cycles, against
   the sqrt(t) + t law fitted to the same prefix and a BoTorch SingleTaskGP (design -> endpoint,
   trained on the fold's complete lab-cell tests).
3. Failures: ROC AUC of the predicted failure probability of held-out lab cells (all failures,
   and design-driven ones without assembly defects).
4. Multi-fidelity gain: the same model trained on lab-cell records alone, per fold; lab-cell
   retention RMSE on the same held-out designs with and without the simulators.
5. Epistemic std against data size (fold 0): ensembles on nested shares of the training designs,
   each trained for at least as many steps as the whole set, three times over (other design
   orders and member seeds); mean epistemic std of retention on the held-out records, each
   ensemble calibrated on 15 % of its own share's designs (``--size-calibration 0`` for raw std;
   the raw figures are kept beside the calibrated ones).
6. Cost: fit seconds and peak memory (RSS) of fold 0's full fit, and the seconds to predict
   lab-cell retention at the last cycle for 10,000 Sobol designs.

Usage:
    python benchmarks/model_quality.py [--db benchmarks/data/sei-life-model.db] [--folds 5]
        [--run-folds 5] [--members 5] [--epochs 150] [--sizes 0.1,0.25,0.5,1.0] [--size-members 5]
        [--size-repeats 3] [--size-steps-factor 1] [--size-calibration 0.15] [--size-only]
        [--net JSON] [--out DIR]

Writes ``model_quality.json`` and PNGs (``model_quality_reliability.png``,
``model_quality_early.png``, ``model_quality_data_size.png``, ``model_quality_trajectories.png``)
under ``benchmarks/results/``, and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from interphase.models import evaluation, plots
from interphase.models.config import NetConfig
from interphase.models.dataset import TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.surrogate import Surrogate
from interphase.models.training import TrainConfig
from interphase.schema.plain import plain_json
from interphase.sources.world import load_world
from interphase.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
OBSERVABLES = ["Discharge capacity [A.h]", "Capacity retention", "Resistance [Ohm]", "SEI thickness [m]"]
RETENTION = "Capacity retention"
LAB = "lab-cell"


def strata(dataset: TrajectoryDataset) -> torch.Tensor:
    """``B`` labels that stratify the splits: source, and whether the run failed."""
    return dataset.batch.source * 2 + dataset.batch.failed.long()


def calibration_split(dataset: TrajectoryDataset, rows: torch.Tensor, fraction: float,
                      seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``rows`` by design into (fit, calibration), ``fraction`` of each stratum to calibration."""
    sub = dataset.batch.index(rows)
    labels = strata(dataset)[rows]
    groups = dataset.design_groups()[rows].numpy()
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    labelled = sub.has_result.numpy() > 0
    first_label = {}
    for i, g in enumerate(groups):
        if labelled[i] and g not in first_label:
            first_label[int(g)] = int(labels[i])
    for label in sorted(set(first_label.values())):
        members = [g for g, lab in first_label.items() if lab == label]
        take = int(round(fraction * len(members)))
        chosen.extend(rng.permutation(members)[:take].tolist())
    held = np.isin(groups, chosen)
    return rows[torch.from_numpy(~held)], rows[torch.from_numpy(held)]


def size_calibration(args: argparse.Namespace, dataset: TrajectoryDataset) -> Any:
    """The data-size curve's split of each share into fitting and calibration designs (None: raw)."""
    if args.size_calibration <= 0:
        return None
    share = args.size_calibration
    return lambda rows, repeat: calibration_split(dataset, rows, share, args.seed + 31 + repeat)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fit(dataset: TrajectoryDataset, rows: torch.Tensor, config: EnsembleConfig, label: str,
        progress: Progress) -> tuple[Surrogate, float]:
    """Fit with a progress bar; returns the model and its seconds."""
    bar = progress.add_task(label, total=Surrogate.fit_steps(dataset, config, rows=rows))
    began = time.monotonic()
    surrogate = Surrogate.fit(dataset, config, rows=rows,
                              progress=lambda done, loss: progress.update(bar, advance=1))
    return surrogate, time.monotonic() - began


def retention_errors(surrogate: Surrogate, dataset: TrajectoryDataset, rows: torch.Tensor,
                     source: str = LAB) -> tuple[float, int]:
    """Sum of squared retention errors and their count over ``source``'s records among ``rows``."""
    index = dataset.source_names.index(source)
    keep = rows[dataset.batch.source[rows] == index]
    if len(keep) == 0:
        return 0.0, 0
    held = dataset.batch.index(keep)
    held.source[:] = surrogate.source_index(source)  # the other model's vocabulary
    prediction = surrogate.predict_records(held, horizon=dataset.horizon, n_samples=16)
    o = dataset.observables.index(RETENTION)
    mask = held.y_mask[..., o] > 0
    error = (held.y[..., o] - prediction.mean[..., o])[mask]
    return float((error ** 2).sum()), int(mask.sum())


def prediction_cost(surrogate: Surrogate, world: Any, n: int = 10_000) -> dict[str, Any]:
    """Seconds to predict lab-cell retention at the last cycle of ``n`` Sobol designs."""
    designs = world.design_space.sample_sobol(n, seed=123)
    cycle = world.protocol.n_cycles
    began = time.monotonic()
    prediction = surrogate.predict_cycles(designs, [cycle], source=LAB, protocol=world.protocol,
                                          observables=[RETENTION])
    seconds = time.monotonic() - began
    o = 0
    return {"n_designs": n, "cycle": cycle, "seconds": seconds, "n_samples_per_member": 8,
            "mean_retention": float(prediction.mean[:, 0, o].mean()),
            "mean_epistemic_std": float(prediction.epistemic_std[:, 0, o].mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--db", default=str(ROOT / "benchmarks" / "data" / "sei-life-model.db"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--run-folds", type=int, default=None, help="fit only the first N folds")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--sizes", default="0.1,0.25,0.5,1.0")
    parser.add_argument("--size-members", type=int, default=5)
    parser.add_argument("--size-repeats", type=int, default=3)
    parser.add_argument("--size-steps-factor", type=float, default=1.0,
                        help="optimiser steps of each size-curve fit, as a multiple of the whole set's")
    parser.add_argument("--size-calibration", type=float, default=0.15,
                        help="share of each size's designs that calibrates its ensemble (0: raw std)")
    parser.add_argument("--size-only", action="store_true",
                        help="only (re)run the data-size curve on fold 0 and update the JSON and its plot")
    parser.add_argument("--net", default="{}",
                        help="NetConfig fields as JSON, e.g. '{\"prior_scale\": 1.0}'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    world = load_world(args.world)
    if "://" not in args.db and not Path(args.db).exists():
        parser.error(f"--db: {args.db} does not exist; 'python benchmarks/model_data.py' makes it "
                     "(from the committed snapshot in about 40 s)")
    store = Store(f"sqlite:///{args.db}" if "://" not in args.db else args.db)
    began = time.monotonic()
    dataset = TrajectoryDataset.from_store(store, world.design_space, observables=OBSERVABLES)
    lab_only = TrajectoryDataset.from_store(store, world.design_space, observables=OBSERVABLES, sources=[LAB])
    config = EnsembleConfig(members=args.members, seed=args.seed, net=NetConfig(**json.loads(args.net)),
                            train=TrainConfig(epochs=args.epochs))
    folds = dataset.folds(args.folds, args.seed, stratify=strata(dataset))[: args.run_folds or args.folds]
    report: dict[str, Any] = {
        "world": args.world, "records": len(dataset), "sources": dataset.source_names,
        "counts": {s: int((dataset.batch.source == i).sum()) for i, s in enumerate(dataset.source_names)},
        "failed_lab_cells": int(dataset.batch.failed[dataset.batch.source
                                                     == dataset.source_names.index(LAB)].sum()),
        "folds": args.folds, "folds_run": len(folds), "config": config.model_dump(mode="json"),
        "snapshot_hash": dataset.snapshot_hash(), "per_fold": [],
    }
    if args.size_only:
        return size_only(args, dataset, config, folds[0])
    trajectories, early, feasibility = [], [], []
    with_sq = with_n = without_sq = without_n = 0.0
    lab_key = {r.design_key: i for i, r in enumerate(lab_only.records)}
    first: dict[str, Any] = {}
    with Progress() as progress:
        for fold, (train_all, held) in enumerate(folds):
            train, calibration = calibration_split(dataset, train_all, 0.15, args.seed + 1 + fold)
            surrogate, seconds = fit(dataset, train, config, f"fold {fold}: full model", progress)
            rss = peak_rss_mb()
            surrogate.calibrate(dataset, calibration)
            outputs = evaluation.trajectory_outputs(surrogate, dataset, held, seed=args.seed)
            early_out = evaluation.early_prediction_outputs(surrogate, dataset, train_all, held, source=LAB,
                                                            seed=args.seed)
            feas_out = evaluation.feasibility_outputs(surrogate, dataset, held, source=LAB)
            trajectories.append(outputs)
            early.append(early_out)
            feasibility.append(feas_out)
            held_keys = {dataset.records[int(r)].design_key for r in held}
            lab_held = torch.tensor(sorted(i for k, i in lab_key.items() if k in held_keys), dtype=torch.long)
            lab_train = torch.tensor(sorted(set(range(len(lab_only))) - set(lab_held.tolist())),
                                     dtype=torch.long)
            lab_model, lab_seconds = fit(lab_only, lab_train, config, f"fold {fold}: lab-cell only", progress)
            sq, n = retention_errors(surrogate, dataset, held)
            sq_lab, n_lab = retention_errors(lab_model, lab_only, lab_held)
            with_sq, with_n = with_sq + sq, with_n + n
            without_sq, without_n = without_sq + sq_lab, without_n + n_lab
            entry = {
                "fold": fold, "train_records": len(train), "calibration_records": len(calibration),
                "holdout_records": len(held), "fit_seconds": seconds, "peak_rss_mb_after_fit": rss,
                "lab_only_fit_seconds": lab_seconds,
                "variance_factors": surrogate.ensemble.variance_factors.tolist(),
                "trajectories": _brief(evaluation.trajectory_scores(outputs)),
                "early_prediction": evaluation.early_prediction_scores([early_out]),
                "feasibility": evaluation.feasibility_scores([feas_out]),
                "lab_retention_rmse": {"with_simulators": math.sqrt(sq / max(n, 1)),
                                       "lab_only": math.sqrt(sq_lab / max(n_lab, 1))},
            }
            report["per_fold"].append(entry)
            progress.console.print(f"fold {fold}: fit {seconds:.0f} s; "
                                   + "; ".join(evaluation.summary_lines(entry)))
            if fold == 0:
                first = {"surrogate": surrogate, "train": train, "held": held}
    pooled_trajectories = evaluation.trajectory_scores(evaluation.HeldOutTrajectories.concat(trajectories))
    with_rmse, without_rmse = math.sqrt(with_sq / max(with_n, 1)), math.sqrt(without_sq / max(without_n, 1))
    report["pooled"] = {
        "trajectories": pooled_trajectories,
        "early_prediction": evaluation.early_prediction_scores(early),
        "feasibility": evaluation.feasibility_scores(feasibility),
        "multi_fidelity": {"lab_retention_rmse_with_simulators": with_rmse,
                           "lab_retention_rmse_lab_only": without_rmse,
                           "ratio_lab_only_over_with": without_rmse / with_rmse if with_rmse else math.nan},
    }
    report["fold_0"] = report["per_fold"][0]
    report["cost"] = {"fit_seconds_fold_0": report["per_fold"][0]["fit_seconds"],
                      "peak_rss_mb_after_first_fit": report["per_fold"][0]["peak_rss_mb_after_fit"],
                      "mean_fit_seconds": float(np.mean([f["fit_seconds"] for f in report["per_fold"]])),
                      "threads": args.threads,
                      "predict_10k": prediction_cost(first["surrogate"], world)}
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    if sizes:
        small = config.model_copy(update={"members": args.size_members})
        with Progress() as progress:
            curve = evaluation.data_size_curve(
                dataset, first["train"], first["held"], sizes, small, seed=args.seed,
                repeats=args.size_repeats, steps_factor=args.size_steps_factor,
                fit=lambda rows, cfg, label: fit(dataset, rows, cfg, label, progress)[0],
                calibration=size_calibration(args, dataset))
        report["data_size_curve"] = curve["points"]
        report["data_size_curve_steps"] = curve["steps"]
        report["data_size_curve_calibrated"] = curve["calibrated"]
    report["wall_seconds"] = time.monotonic() - began
    write(report, args.out, first, dataset, early)
    store.close()
    return 0


def size_only(args: argparse.Namespace, dataset: TrajectoryDataset, config: EnsembleConfig,
              fold_0: tuple[torch.Tensor, torch.Tensor]) -> int:
    """Rerun the data-size curve on fold 0's split and update ``model_quality.json`` and its plot."""
    train_all, held = fold_0
    train, _ = calibration_split(dataset, train_all, 0.15, args.seed + 1)
    small = config.model_copy(update={"members": args.size_members})
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    began = time.monotonic()
    with Progress() as progress:
        curve = evaluation.data_size_curve(
            dataset, train, held, sizes, small, seed=args.seed, repeats=args.size_repeats,
            steps_factor=args.size_steps_factor,
            fit=lambda rows, cfg, label: fit(dataset, rows, cfg, label, progress)[0],
            calibration=size_calibration(args, dataset))
    path = args.out / "model_quality.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report["data_size_curve"] = curve["points"]
    report["data_size_curve_steps"] = curve["steps"]
    report["data_size_curve_calibrated"] = curve["calibrated"]
    report["data_size_curve_seconds"] = time.monotonic() - began
    path.write_text(json.dumps(plain_json(report), indent=1))
    points = curve["points"]
    plots.uncertainty_vs_data([c["fraction"] for c in points], [c["mean_epistemic_std"] for c in points],
                              [c["rmse"] for c in points], args.out / "model_quality_data_size.png",
                              observable=RETENTION, n_designs=[c["n_designs"] for c in points])
    for point in points:
        print(f"  data {point['fraction']:.2f}: epistemic std {point['mean_epistemic_std']:.4f} "
              f"({', '.join(f'{k} {v:.4f}' for k, v in point['epistemic_std_by_source'].items())}), "
              f"raw {point['raw_epistemic_std']:.4f}, RMSE {point['rmse']:.4f}")
    print(f"wrote {path} ({curve['steps']} steps per fit, "
          f"{'calibrated' if curve['calibrated'] else 'raw'}) in {time.monotonic() - began:.0f} s")
    return 0


def _brief(scores: dict[str, Any]) -> dict[str, Any]:
    """Per-source scores without the reliability curve (kept for the pooled figures only)."""
    return {source: {k: v for k, v in figures.items() if k != "reliability"}
            for source, figures in scores.items()}


def write(report: dict[str, Any], out: Path, first: dict[str, Any], dataset: TrajectoryDataset,
          early: list[dict[str, Any]]) -> None:
    """The JSON, the PNGs and the printed summary."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_quality.json").write_text(json.dumps(plain_json(report), indent=1))
    pooled = report["pooled"]
    curves = {source: (f["reliability"]["levels"], f["reliability"]["observed"])
              for source, f in pooled["trajectories"].items()}
    plots.reliability_diagram(curves, out / "model_quality_reliability.png")
    plots.trajectory_figure(evaluation.trajectory_panels(first["surrogate"], dataset, first["held"]),
                            out / "model_quality_trajectories.png")
    early_plot(early, pooled["early_prediction"], out / "model_quality_early.png")
    curve = report.get("data_size_curve") or []
    if curve:
        plots.uncertainty_vs_data([c["fraction"] for c in curve], [c["mean_epistemic_std"] for c in curve],
                                  [c["rmse"] for c in curve], out / "model_quality_data_size.png",
                                  observable=RETENTION, n_designs=[c["n_designs"] for c in curve])
    print("pooled over folds:")
    print("\n".join("  " + line for line in evaluation.summary_lines(pooled)))
    mf = pooled["multi_fidelity"]
    print(f"  multi-fidelity: lab retention RMSE {mf['lab_retention_rmse_with_simulators']:.4f} "
          "with simulators, "
          f"{mf['lab_retention_rmse_lab_only']:.4f} lab only (x{mf['ratio_lab_only_over_with']:.2f})")
    for point in curve:
        print(f"  data {point['fraction']:.2f}: epistemic std {point['mean_epistemic_std']:.4f}, "
              f"RMSE {point['rmse']:.4f}")
    cost = report["cost"]
    print(f"  cost: fit {cost['fit_seconds_fold_0']:.0f} s, "
          f"peak RSS {cost['peak_rss_mb_after_first_fit']:.0f} MB, "
          f"10,000 endpoints in {cost['predict_10k']['seconds']:.2f} s")
    print(f"wrote {out / 'model_quality.json'} in {report['wall_seconds']:.0f} s")


def early_plot(early: list[dict[str, Any]], scores: dict[str, Any], path: Path) -> None:
    """Observed against predicted lab-cell retention at the last cycle: model, law and GP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [e for e in early if e.get("rows")]
    if not parts:
        return
    observed = np.array([v for p in parts for v in p["observed"]])
    figure, axis = plt.subplots(figsize=(5.2, 5.0))
    styles = (("model", "interphase (first 10 %)", "o"), ("sqrt_t_law", "sqrt(t)+t law", "s"),
              ("gp", "SingleTaskGP (design)", "^"))
    for key, label, marker in styles:
        among = [p for p in parts if key in p]
        if not among:
            continue
        truth = np.array([v for p in among for v in p["observed"]])
        guess = np.array([v for p in among for v in p[key]])
        mape = scores.get(f"mape_{key}") if key != "sqrt_t_law" else scores.get("mape_sqrt_t_law")
        axis.scatter(truth, guess, marker=marker, s=22, alpha=0.75, label=f"{label}: MAPE {mape:.2f} %")
    low, high = float(observed.min()) - 0.05, 1.0
    axis.plot([low, high], [low, high], "k--", lw=0.8)
    axis.set_xlim(low, high)
    axis.set_ylim(low - 0.1, high + 0.05)
    axis.set_xlabel("observed retention at the last cycle")
    axis.set_ylabel("predicted")
    axis.set_title(f"Early prediction, {len(observed)} held-out lab cells")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
