"""Discovery time of interphase against trial and error and two BoTorch baselines, over seeds.

Every strategy runs on the same world, with the same resources, target, replicate rule and
budget, on the event clock of BENCHMARKS.md (simulated lab hours; channels and CPU workers in
parallel). Campaigns live in ``benchmarks/data/discovery-<world>.db``; the script resumes where
it stopped and appends each finished campaign to the JSON as it arrives, so it can run in the
background across sessions.

Usage:
    python benchmarks/discovery.py [--world sei-life] [--seeds 10] [--strategies a,b,...]
        [--workers 2] [--budget-lab-hours 200000] [--out DIR]

Writes ``discovery-<world>.json`` (per seed: discovery time, cost by source, runs, verified;
per strategy: median and IQR, seeds verified, acceleration of interphase) and
``discovery-<world>.png`` (best objective of full-length highest-fidelity runs against simulated
hours, median with IQR, and the share of seeds verified), and prints one line per strategy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from interphase.agent.bench import STRATEGIES, BenchJob, run_jobs, summarise

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
DATA_DIR = ROOT / "benchmarks" / "data"
# The multi-fidelity GP would simulate without end (a simulation is 1e5 times cheaper per hour than
# a cell test); 48 simulations is what the interphase agent may run too.
BASELINE_SETTINGS: dict[str, dict[str, Any]] = {"mf-gp": {"max_simulations": 48}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-lab-hours", type=float, default=200_000.0)
    parser.add_argument("--agent", default="{}", help="interphase agent settings, JSON")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--db", type=Path, default=None, help="store (default benchmarks/data/discovery-<world>.db)")
    args = parser.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    world = Path(args.world).stem
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.db or DATA_DIR / f"discovery-{world}.db"
    json_path = args.out / f"discovery-{world}.json"
    settings = {**BASELINE_SETTINGS, "interphase": json.loads(args.agent)}
    jobs = [BenchJob(world=args.world, strategy=s, seed=seed, db=str(db), budget_lab_hours=args.budget_lab_hours,
                     agent=settings.get(s, {}))
            for seed in range(args.first_seed, args.first_seed + args.seeds) for s in strategies]
    rows = _previous(json_path)

    def keep(row: dict[str, Any]) -> None:
        rows[(row["strategy"], row["seed"])] = row
        _write(json_path, world, rows, args)
        found = f"verified at {row['discovery_h']:.0f} h" if row["verified"] else f"not verified ({row['status']})"
        print(f"{row['campaign']}: {found}, {row['runs']} runs, {row['lab_hours']:.0f} lab h, "
              f"{row['wall_seconds']:.0f} s", flush=True)

    todo = [j for j in jobs if (j.strategy, j.seed) not in rows]
    run_jobs(todo, args.workers, on_result=keep)
    report = _write(json_path, world, rows, args)
    plot(list(rows.values()), args.out / f"discovery-{world}.png", world)
    for strategy, entry in report["summary"].items():
        accel = f", interphase {entry['acceleration']:.1f}x faster" if "acceleration" in entry else ""
        print(f"{strategy}: median discovery {entry['median_h']:.0f} h (IQR {entry['q25_h']:.0f}-{entry['q75_h']:.0f}), "
              f"verified {entry['verified']}/{entry['seeds']}{accel}")
    return 0


def _previous(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    if not path.exists():
        return {}
    return {(r["strategy"], r["seed"]): r for r in json.loads(path.read_text()).get("runs", [])}


def _write(path: Path, world: str, rows: dict[tuple[str, int], dict[str, Any]], args: Any) -> dict[str, Any]:
    ordered = sorted(rows.values(), key=lambda r: (r["strategy"], r["seed"]))
    report = {"world": world, "budget_lab_hours": args.budget_lab_hours, "summary": _finite(summarise(ordered)),
              "runs": _finite(ordered)}
    path.write_text(json.dumps(report, indent=1))
    return report


def plot(rows: list[dict[str, Any]], path: Path, world: str) -> None:
    """Best objective against simulated hours (median, IQR) and the share of seeds verified."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    by: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault(row["strategy"], []).append(row)
    end = max([r["end_h"] for r in rows] + [1.0])
    grid = np.linspace(0.0, end, 400)
    for strategy, runs in sorted(by.items()):
        curves = []
        for run in runs:
            values = np.full(grid.shape, np.nan)
            for hour, best in run["curve"]:
                values[grid >= hour] = best
            curves.append(values)
        stack = np.array(curves)
        with np.errstate(all="ignore"):
            median = np.nanmedian(stack, axis=0)
            low, high = np.nanquantile(stack, 0.25, axis=0), np.nanquantile(stack, 0.75, axis=0)
        (line,) = left.plot(grid, median, label=strategy)
        left.fill_between(grid, low, high, color=line.get_color(), alpha=0.2)
        times = sorted(r["discovery_h"] for r in runs if r["verified"])
        share = [sum(1 for t in times if t <= h) / len(runs) for h in grid]
        right.plot(grid, share, color=line.get_color(), label=strategy)
    left.set_xlabel("simulated hours")
    left.set_ylabel("best objective, full-length top-fidelity runs")
    left.set_title(f"{world}: best so far (median, IQR over seeds)")
    left.legend(fontsize=8)
    right.set_xlabel("simulated hours")
    right.set_ylabel("share of seeds with a verified design")
    right.set_title("discovery")
    right.set_ylim(0, 1.02)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
