"""Model quality on held-out designs: calibration, early prediction, multi-fidelity gain, epistemic behaviour.

Data: the store that ``benchmarks/model_data.py`` fills (sei-life: pybamm-spm, pybamm-dfn
and lab-cell trajectories over the 200-cycle horizon). 20 % of the designs are held out;
of the rest, 15 % calibrate the variance and the remainder trains.

1. The full model (every source): per-source coverage of the 50 % and 90 % intervals,
   RMSE, CRPS; early prediction of lab-cell retention at the last cycle from the first
   10 % of cycles against the sqrt(t) + t law and a SingleTaskGP; feasibility AUC.
2. Multi-fidelity gain: the same model trained on lab-cell records alone; lab-cell
   retention RMSE on the same held-out designs, with and without the simulators.
3. Epistemic std against data size: small ensembles on nested fractions of the training
   designs; mean epistemic std of retention on the held-out records.

Usage:
    python benchmarks/model_quality.py [--db benchmarks/data/sei-life-model.db] [--members 5]
        [--epochs 100] [--sizes 0.25,0.5,1.0] [--size-members 3] [--size-epochs 60] [--out DIR]

Writes ``model_quality.json`` and PNGs (reliability, trajectories, uncertainty vs data) under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from interphase.models import evaluation, metrics
from interphase.models.dataset import TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.surrogate import Surrogate
from interphase.models.training import TrainConfig, epochs_for, steps_for
from interphase.sources.world import load_world
from interphase.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
OBSERVABLES = ["Discharge capacity [A.h]", "Capacity retention", "Resistance [Ohm]", "SEI thickness [m]"]
RETENTION = "Capacity retention"


def split_designs(
    dataset: TrajectoryDataset, rows: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``rows`` by design: ``fraction`` of their designs (with results) go to the second part."""
    groups = dataset.design_groups()[rows].numpy()
    labelled = np.unique(groups[dataset.batch.has_result[rows].numpy() > 0])
    chosen = np.random.default_rng(seed).permutation(labelled)[: int(round(fraction * len(labelled)))]
    second = np.isin(groups, chosen)
    return rows[torch.from_numpy(~second)], rows[torch.from_numpy(second)]


def fit(
    dataset: TrajectoryDataset,
    rows: torch.Tensor,
    config: EnsembleConfig,
    label: str,
    calibration_rows: torch.Tensor | None = None,
) -> tuple[Surrogate, float]:
    """Fit with a progress bar; calibrate on ``calibration_rows``; returns the model and seconds."""
    total = config.members * steps_for(len(rows), config.train, epochs_for(len(rows), config.train))
    began = time.monotonic()
    with Progress() as progress:
        bar = progress.add_task(label, total=total)
        surrogate = Surrogate.fit(
            dataset, config, rows=rows, progress=lambda done, loss: progress.update(bar, advance=1)
        )
    if calibration_rows is not None and len(calibration_rows):
        calibration = dataset.batch.index(calibration_rows[dataset.batch.has_result[calibration_rows] > 0])
        surrogate.ensemble.calibrate(calibration, dataset.horizon)
    return surrogate, time.monotonic() - began


def lab_retention_rmse(
    surrogate: Surrogate, dataset: TrajectoryDataset, rows: torch.Tensor, source: str = "lab-cell"
) -> float:
    """RMSE of retention over every observed cycle of ``source``'s records among ``rows``."""
    index = surrogate.source_index(source)
    keep = rows[dataset.batch.source[rows] == dataset.source_names.index(source)]
    held = dataset.batch.index(keep)
    held.source[:] = index  # the other model's vocabulary
    prediction = surrogate.predict_records(held, horizon=dataset.horizon, n_samples=16)
    o = dataset.observables.index(RETENTION)
    return metrics.rmse(held.y[..., o], prediction.mean[..., o], held.y_mask[..., o] > 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--db", default=str(ROOT / "benchmarks" / "data" / "sei-life-model.db"))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--sizes", default="0.25,0.5,1.0")
    parser.add_argument("--size-members", type=int, default=3)
    parser.add_argument("--size-epochs", type=int, default=60)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    world = load_world(args.world)
    store = Store(f"sqlite:///{args.db}" if "://" not in args.db else args.db)
    began = time.monotonic()
    dataset = TrajectoryDataset.from_store(store, world.design_space, observables=OBSERVABLES)
    train_all, holdout = dataset.split(args.holdout, args.seed)
    train, calibration = split_designs(dataset, train_all, 0.15, args.seed + 1)
    config = EnsembleConfig(members=args.members, seed=args.seed, train=TrainConfig(epochs=args.epochs))
    report: dict[str, Any] = {
        "world": args.world,
        "records": len(dataset),
        "sources": dataset.source_names,
        "counts": {s: int((dataset.batch.source == i).sum()) for i, s in enumerate(dataset.source_names)},
        "train_records": len(train),
        "calibration_records": len(calibration),
        "holdout_records": len(holdout),
        "config": config.model_dump(mode="json"),
        "snapshot_hash": dataset.snapshot_hash(),
    }
    surrogate, seconds = fit(dataset, train, config, "full model", calibration)
    report["fit_seconds"] = seconds
    report["variance_factor"] = surrogate.ensemble.variance_factor
    report["trajectories"] = evaluation.trajectory_metrics(surrogate, dataset, holdout)
    report["early_prediction"] = evaluation.early_prediction(
        surrogate, dataset, train_all, holdout, source="lab-cell"
    )
    report["feasibility"] = evaluation.feasibility_auc(surrogate, dataset, holdout, source="lab-cell")
    print("\n".join(evaluation.summary_lines(report)), flush=True)

    lab_only = TrajectoryDataset.from_store(
        store, world.design_space, observables=OBSERVABLES, sources=["lab-cell"]
    )
    lab_groups = {r.design_key for i, r in enumerate(dataset.records) if i in set(holdout.tolist())}
    lab_holdout = torch.tensor(
        [i for i, r in enumerate(lab_only.records) if r.design_key in lab_groups], dtype=torch.long
    )
    lab_train = torch.tensor(
        [i for i in range(len(lab_only)) if i not in set(lab_holdout.tolist())], dtype=torch.long
    )
    lab_model, lab_seconds = fit(lab_only, lab_train, config, "lab-cell only")
    with_rmse = lab_retention_rmse(surrogate, dataset, holdout)
    without_rmse = lab_retention_rmse(lab_model, lab_only, lab_holdout)
    report["multi_fidelity"] = {
        "lab_retention_rmse_with_simulators": with_rmse,
        "lab_retention_rmse_lab_only": without_rmse,
        "ratio_lab_only_over_with": without_rmse / with_rmse,
        "lab_only_fit_seconds": lab_seconds,
    }
    print(
        f"multi-fidelity: lab retention RMSE {with_rmse:.4f} with simulators, {without_rmse:.4f} lab only "
        f"(x{without_rmse / with_rmse:.2f})",
        flush=True,
    )

    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    small = EnsembleConfig(
        members=args.size_members, seed=args.seed, train=TrainConfig(epochs=args.size_epochs)
    )
    curve = evaluation.data_size_curve(
        dataset,
        train,
        holdout,
        sizes,
        small,
        seed=args.seed,
        fit=lambda rows, cfg, label: fit(dataset, rows, cfg, label)[0],
    )["points"]
    for point in curve:
        print(
            f"data {point['fraction']:.2f}: epistemic std {point['mean_epistemic_std']:.4f}, "
            f"RMSE {point['rmse']:.4f}",
            flush=True,
        )
    report["data_size_curve"] = curve
    report["wall_seconds"] = time.monotonic() - began
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_quality.json").write_text(json.dumps(report, indent=1))
    from interphase.models import plots

    curves = {
        source: (f["reliability"]["levels"], f["reliability"]["observed"])
        for source, f in report["trajectories"].items()
    }
    plots.reliability_diagram(curves, args.out / "model_quality_reliability.png")
    if curve:
        plots.uncertainty_vs_data(
            [c["fraction"] for c in curve],
            [c["mean_epistemic_std"] for c in curve],
            [c["rmse"] for c in curve],
            args.out / "model_quality_data_size.png",
            observable=RETENTION,
        )
    sha = surrogate.save(
        store,
        {
            "benchmark": "model_quality",
            "holdout_fraction": args.holdout,
            "seed": args.seed,
            "world": args.world,
            "variance_factor": surrogate.ensemble.variance_factor,
        },
    )
    print(f"model {sha}; wrote {args.out / 'model_quality.json'} in {report['wall_seconds']:.0f} s")
    print(
        f"trajectory plots: interphase --db sqlite:///{args.db} model evaluate --model {sha[:12]} --sizes ''"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
