"""What do the optimiser steps of a fit from scratch buy? Accuracy, calibration and seconds per step budget.

The interphase agent fits its model from scratch for ``min_steps`` (800) optimiser steps: the
first fit of a campaign and each time the records grew by half. Those fits are its slowest
decisions (80-130 s on one core, ``decide_seconds`` in the discovery ledger) and the reason one
decision takes more than the 30 s the closed-loop issue asks for. Fewer steps would be faster;
this script measures what they would cost. For each interphase campaign in the stores it fits
the agent's ensemble (the agent's settings) on the records its first fit saw (the first
``--train`` records in store order: the space-filling simulations and the reference runs) for
each budget in ``--steps``, and scores the trajectories of every later record of the campaign
(held out: the refinements, the lab's cells) by source: CRPS and Gaussian NLL in units of each
observable's scale, and the coverage of the 90 % interval.

Usage:
    python benchmarks/fit_steps.py [--db STORE [STORE ...]] [--train 36] [--steps 800 400 250 160]

``make bench`` runs it after ``discovery.py``, whose ``sei-life`` store is the default.

Writes ``fit_steps.json`` and ``fit_steps.png`` under ``benchmarks/results/``.
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

from interphase.agent.plan import resolve
from interphase.agent.strategies.interphase_agent import DEFAULTS, dataset_layout, ensemble_config
from interphase.models.dataset import TrajectoryDataset
from interphase.models.ensemble import EnsembleConfig
from interphase.models.evaluation import trajectory_metrics
from interphase.models.surrogate import Surrogate
from interphase.schema.run_config import RunConfig
from interphase.store import Store

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
DEFAULT_DB = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "discovery-sei-life.db"
SCORES = ("crps_standardised", "nll_standardised", "coverage_90")


def campaign_dataset(store: Store, campaign: str, world: str) -> TrajectoryDataset:
    """The campaign's records laid out as the agent lays them out (:func:`dataset_layout`)."""
    plan = resolve(RunConfig(name="fit-steps", world=world, strategy="interphase"))
    sources, observables = dataset_layout({name: source.spec for name, source in plan.sources.items()},
                                          plan.target)
    return TrajectoryDataset.from_store(store, plan.world.design_space, campaign=campaign, sources=sources,
                                        observables=observables, horizon=plan.world.protocol.n_cycles,
                                        include_unlabelled=False)


def agent_config(steps: int, seed: int) -> EnsembleConfig:
    """The agent's ensemble (:func:`ensemble_config` of :data:`DEFAULTS`) with ``steps`` as ``min_steps``."""
    return ensemble_config({**DEFAULTS, "min_steps": steps}, seed)


def score_budgets(dataset: TrajectoryDataset, n_train: int, budgets: list[int],
                  seed: int) -> list[dict[str, Any]]:
    """Fit on the first ``n_train`` records once per step budget; score the later records by source.

    Returns:
        One row per budget: ``steps`` (the fit's optimiser steps), ``fit_seconds`` and, per
        held-out source, its ``n_records`` and :data:`SCORES`.
    """
    train, held = torch.arange(n_train), torch.arange(n_train, len(dataset))
    rows = []
    for budget in budgets:
        config = agent_config(budget, seed)
        began = time.perf_counter()
        surrogate = Surrogate.fit(dataset, config, rows=train)
        seconds = time.perf_counter() - began
        metrics = trajectory_metrics(surrogate, dataset, held)
        by_source = {name: {"n_records": part["n_records"], **{k: float(part[k]) for k in SCORES}}
                     for name, part in metrics.items() if isinstance(part, dict) and part.get("n_records")}
        rows.append({"min_steps": budget, "steps": Surrogate.fit_steps(dataset, config, rows=train),
                     "fit_seconds": seconds, "by_source": by_source})
        print(f"  {budget} steps: {seconds:.1f} s, " + ", ".join(
            f"{name} CRPS {part['crps_standardised']:.3f}" for name, part in by_source.items()), flush=True)
    return rows


def summarise(campaigns: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per budget: the median fit seconds and, per source, each score's mean over the campaigns.

    Each source also gets ``crps_vs_most_steps``: its CRPS over that of the largest budget.
    """
    budgets = [row["min_steps"] for row in next(iter(campaigns.values()))]
    out: dict[str, Any] = {}
    for i, budget in enumerate(budgets):
        rows = [runs[i] for runs in campaigns.values()]
        entry: dict[str, Any] = {"fit_seconds_median": float(np.median([r["fit_seconds"] for r in rows]))}
        for source in sorted({s for r in rows for s in r["by_source"]}):
            scored = [r["by_source"][source] for r in rows if source in r["by_source"]]
            entry[source] = {k: float(np.mean([s[k] for s in scored])) for k in SCORES}
        out[str(budget)] = entry
    most = str(max(budgets))
    for entry in out.values():
        for source, scores in entry.items():
            if isinstance(scores, dict) and source in out[most]:
                most_crps = out[most][source]["crps_standardised"]
                scores["crps_vs_most_steps"] = scores["crps_standardised"] / most_crps
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", nargs="+", default=[str(DEFAULT_DB)],
                        help="stores holding interphase campaigns (default: the discovery benchmark's)")
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--train", type=int, default=36,
                        help="records of the first fit (the agent's first sei-life fit saw 36)")
    parser.add_argument("--steps", type=int, nargs="+", default=[800, 400, 250, 160])
    parser.add_argument("--campaigns", type=int, default=3, help="most campaigns to score")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.train < 1 or any(s < 1 for s in args.steps):
        print("--train and --steps must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # as the agent runs
    campaigns: dict[str, list[dict[str, Any]]] = {}
    for path in args.db:
        if not Path(path).exists():
            print(f"--db: no store at {path}; run benchmarks/discovery.py first", file=sys.stderr)
            return 2
        store = Store(path)
        for campaign in store.list_campaigns():
            if len(campaigns) >= args.campaigns or "-interphase-" not in campaign.name:
                continue
            dataset = campaign_dataset(store, campaign.name, args.world)
            if len(dataset) <= args.train:
                continue
            print(f"{campaign.name}: {len(dataset)} records, the first {args.train} train", flush=True)
            campaigns[campaign.name] = score_budgets(dataset, args.train, sorted(args.steps, reverse=True),
                                                     seed=len(campaigns) + 1)
    if not campaigns:
        print(f"--db: no interphase campaign with more than {args.train} records", file=sys.stderr)
        return 2
    report = {"world": args.world, "train_records": args.train, "summary": summarise(campaigns),
              "campaigns": campaigns}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_steps.json").write_text(json.dumps(report, indent=1))
    plot(report, args.out / "fit_steps.png")
    for budget, entry in report["summary"].items():
        parts = [f"{s} CRPS {v['crps_standardised']:.3f} ({v['crps_vs_most_steps']:.2f}x), NLL "
                 f"{v['nll_standardised']:.2f}, 90 % coverage {v['coverage_90']:.2f}"
                 for s, v in entry.items() if isinstance(v, dict)]
        print(f"{budget} steps: fit {entry['fit_seconds_median']:.0f} s; " + "; ".join(parts))
    return 0


def plot(report: dict[str, Any], path: Path) -> None:
    """CRPS of the held-out records per source, and the fit's seconds, against the step budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report["summary"]
    budgets = sorted(int(b) for b in summary)
    sources = sorted({s for e in summary.values() for s, v in e.items() if isinstance(v, dict)})
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.8))
    for source in sources:
        crps = [summary[str(b)][source]["crps_standardised"] for b in budgets]
        left.plot(budgets, crps, "o-", label=source)
    left.set_xlabel("optimiser steps of the fit from scratch")
    left.set_ylabel("CRPS of held-out records (scaled)")
    left.legend(frameon=False)
    right.plot(budgets, [summary[str(b)]["fit_seconds_median"] for b in budgets], "o-", color="grey")
    right.axhline(30.0, color="tab:red", linestyle=":", label="30 s per decision")
    right.set_xlabel("optimiser steps of the fit from scratch")
    right.set_ylabel("fit seconds (median, one core)")
    right.legend(frameon=False)
    figure.suptitle(f"{report['world']}: the first fit, on {report['train_records']} records")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
