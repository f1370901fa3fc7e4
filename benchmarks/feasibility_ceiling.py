"""How well can any model rank the lab's failed cells? Baselines for the feasibility AUC.

The model's feasibility head is scored by AUC on held-out lab cells (``model_quality.py``).
This script asks what the 40 lab cells of the model store allow at all: leave-one-out
logistic regressions on a few design features (the physics of plating shorts says cold and
fast charging), their in-sample AUC (an optimistic ceiling), and the AUC a perfect ranking of
the design-driven failures would get when the random assembly defects fall among the passes.
A second ceiling also counts the emulator's "cell failure" (its solver could not finish a
cycle of the hidden cell) as unforeseeable: only plating shorts have a physical precursor.
Last, how well the simulators' own precursor ranks the shorts: the plating thickness that
``pybamm-dfn`` reports at the lab's designs (its peak per cycle; the maximum and the mean over
the horizon), against the coldness of the chamber alone, on shorts against passes. A model
that forecast the DFN's plating perfectly could rank the shorts no better than that.

Usage:
    python benchmarks/feasibility_ceiling.py [--db benchmarks/data/sei-life-model.db]

Writes ``benchmarks/results/feasibility_ceiling.json`` and prints one line per feature set.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from interphase.store import Store

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab-cell"
DEFECT = "assembly defect"
SOLVER = "cell failure"
SHORT = "short circuit"
PRECURSOR_SOURCE = "pybamm-dfn"
PRECURSOR = "Lithium plating thickness [m]"
FEATURES = {
    "temperature": lambda d: [d["Ambient temperature [K]"]],
    "1/T and charge rate": lambda d: [1000.0 / d["Ambient temperature [K]"], d["Charge C-rate"]],
    "1/T, charge rate and cut-off": lambda d: [1000.0 / d["Ambient temperature [K]"], d["Charge C-rate"],
                                               d["Charge cut-off voltage [V]"]],
    "every design variable": lambda d: [math.log10(v) if "diffusivity" in k or "resistivity" in k else v
                                        for k, v in sorted(d.items())],
}


def loo_scores(x: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Leave-one-out failure probabilities of an L2 logistic regression on standardised ``x``."""
    scores = np.zeros(len(failed))
    for i in range(len(failed)):
        keep = np.arange(len(failed)) != i
        mean, std = x[keep].mean(0), x[keep].std(0) + 1e-12
        model = LogisticRegression(C=1.0).fit((x[keep] - mean) / std, failed[keep])
        scores[i] = model.predict_proba((x[i:i + 1] - mean) / std)[0, 1]
    return scores


def simulated_precursor(store: Store, design_ids: list[str]) -> np.ndarray:
    """``N x 2``: the maximum and mean over cycles of the DFN's plating at each design (NaN: none)."""
    runs = {r.design_id: r.result for r in store.list_results(source=PRECURSOR_SOURCE)}
    out = np.full((len(design_ids), 2), np.nan)
    for i, design_id in enumerate(design_ids):
        result = runs.get(design_id)
        values = [o.value for o in result.observations if o.observable == PRECURSOR] if result else []
        if values:
            out[i] = (max(values), float(np.mean(values)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=str(ROOT / "benchmarks" / "data" / "sei-life-model.db"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if "://" not in args.db and not Path(args.db).exists():
        parser.error(f"--db: {args.db} does not exist; 'python benchmarks/model_data.py' makes it "
                     "(from the committed snapshot in about 40 s)")
    store = Store(f"sqlite:///{args.db}")
    results = store.list_results(source=LAB)
    designs = [store.get_design(r.design_id).design.values for r in results]
    failed = np.array([r.result.status.value == "failed" for r in results])
    causes = [r.result.metadata.get("failure_cause") for r in results]
    driven = np.array([c != DEFECT for c in causes])
    precursor = simulated_precursor(store, [r.design_id for r in results])
    store.close()
    n_fail, n_defect = int(failed.sum()), int(sum(c == DEFECT for c in causes))
    n_random = n_defect + int(sum(c == SOLVER for c in causes))
    report = {"cells": len(results), "failed": n_fail,
              "failed_by_cause": {c: causes.count(c) for c in sorted({c for c in causes if c})},
              "perfect_ranking_expected_auc": (n_fail - n_defect + 0.5 * n_defect) / max(n_fail, 1),
              "perfect_short_ranking_expected_auc": (n_fail - n_random + 0.5 * n_random) / max(n_fail, 1),
              "feature_sets": {}}
    print(f"{len(results)} lab cells, {n_fail} failed {report['failed_by_cause']}; a perfect ranking of "
          f"the design-driven failures, defects at random: AUC {report['perfect_ranking_expected_auc']:.3f}; "
          f"of the shorts, defects and cell failures at random: "
          f"{report['perfect_short_ranking_expected_auc']:.3f}")
    for name, features in FEATURES.items():
        x = np.array([features(d) for d in designs], dtype=float)
        loo = loo_scores(x, failed)
        standard = (x - x.mean(0)) / (x.std(0) + 1e-12)
        fitted = LogisticRegression(C=1.0).fit(standard, failed).predict_proba(standard)[:, 1]
        entry = {"loo_auc": float(roc_auc_score(failed, loo)),
                 "loo_auc_design_driven": float(roc_auc_score(failed[driven], loo[driven])),
                 "in_sample_auc": float(roc_auc_score(failed, fitted))}
        report["feature_sets"][name] = entry
        print(f"{name}: leave-one-out AUC {entry['loo_auc']:.3f} (design-driven failures "
              f"{entry['loo_auc_design_driven']:.3f}), in-sample {entry['in_sample_auc']:.3f}")
    short = np.array([c == SHORT for c in causes])
    pairs = (short | ~failed) & ~np.isnan(precursor[:, 0])
    if short[pairs].any() and (~short[pairs]).any():
        coldness = -np.array([d["Ambient temperature [K]"] for d in designs])
        entry = {"cells": int(pairs.sum()), "shorts": int(short[pairs].sum()),
                 "max_plating_auc": float(roc_auc_score(short[pairs], precursor[pairs, 0])),
                 "mean_plating_auc": float(roc_auc_score(short[pairs], precursor[pairs, 1])),
                 "coldness_auc": float(roc_auc_score(short[pairs], coldness[pairs]))}
        report["simulated_precursor"] = entry
        print(f"{PRECURSOR_SOURCE} plating at the lab's designs, shorts against passes "
              f"({entry['shorts']} of {entry['cells']}): AUC {entry['max_plating_auc']:.3f} (peak), "
              f"{entry['mean_plating_auc']:.3f} (mean); coldness alone {entry['coldness_auc']:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "feasibility_ceiling.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
