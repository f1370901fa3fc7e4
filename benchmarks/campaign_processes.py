"""Wall time of one full campaign with its simulations on 1 and on 2 processes (simulated clock).

The benchmark's interphase campaign on ``sei-life`` (its settings and lab budget, one seed)
runs to its end once per ``--processes`` value, each into a fresh SQLite file, one after the
other on this machine. On the simulated clock where simulations run changes only the wall
time, so the decision logs must match entry for entry (timings aside); the script checks it
and gives each run's wall time and the ratio to the first.

    python benchmarks/campaign_processes.py --seed 3 --processes 1 2

Writes ``benchmarks/results/campaign_processes.json`` and ``campaign_processes.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interphase.agent.bench import BenchJob, code_version, strategy_settings  # noqa: E402
from interphase.agent.campaign import run_campaign  # noqa: E402
from interphase.agent.plan import resolve  # noqa: E402
from interphase.execution import available_cpus  # noqa: E402
from interphase.schema.run_config import RunConfig  # noqa: E402
from interphase.store import Store  # noqa: E402
from support.decision_logs import decisions_without_timings, first_difference  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"


def campaign_config(seed: int, processes: int, budget_lab_hours: float) -> RunConfig:
    """The benchmark's interphase campaign for ``seed``, its simulations on ``processes`` processes."""
    job = BenchJob(world="sei-life", strategy="interphase", seed=seed, db="",
                   agent=strategy_settings()["interphase"], budget_lab_hours=budget_lab_hours)
    config = job.config()
    resources = config.resources.model_copy(update={"processes": processes, "executor": "local"})
    return config.model_copy(update={"resources": resources})


def run_once(folder: Path, seed: int, processes: int,
             budget_lab_hours: float) -> tuple[dict[str, Any], list[Any]]:
    """Run the campaign to its end; its figures and its decision log without timings."""
    store = Store(f"sqlite:///{folder / f'processes-{processes}.db'}")
    try:
        config = campaign_config(seed, processes, budget_lab_hours)
        began = time.monotonic()
        outcome = run_campaign(store, resolve(config))
        wall_s = time.monotonic() - began
        log = decisions_without_timings(store, config.name)
        row = {"processes": processes, "wall_seconds": wall_s, "status": outcome.status,
               "discovery_h": outcome.discovery_h, "clock_h": outcome.clock_h, "runs": outcome.runs,
               "decisions": len(log)}
        return row, log
    finally:
        store.close()


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Bars of wall minutes by process count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    labels = [f"{r['processes']} process{'es' if r['processes'] > 1 else ''}" for r in rows]
    minutes = [r["wall_seconds"] / 60 for r in rows]
    ax.bar(labels, minutes, color=["#4c72b0", "#dd8452", "#55a868"][:len(rows)])
    for i, m in enumerate(minutes):
        ax.text(i, m, f"{m:.1f} min", ha="center", va="bottom")
    ax.set_ylabel("wall time [min]")
    ax.set_title("one sei-life campaign, simulated clock")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the campaign per process count, check the logs match, write JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--budget-lab-hours", type=float, default=200_000.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    rows, logs = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for processes in args.processes:
            print(f"seed {args.seed}: running the campaign on {processes} process(es)...", flush=True)
            row, log = run_once(Path(scratch), args.seed, processes, args.budget_lab_hours)
            print(f"  {row['status']} at {row['clock_h']:.0f} h, {row['runs']} runs, "
                  f"{row['wall_seconds']:.0f} s of wall time", flush=True)
            rows.append(row)
            logs.append(log)
    first = rows[0]["wall_seconds"]
    for row in rows:
        row["ratio_to_first"] = row["wall_seconds"] / first
    differences = {str(row["processes"]): difference for row, log in zip(rows[1:], logs[1:], strict=True)
                   if (difference := first_difference(logs[0], log)) is not None}
    identical = not differences
    report = {"world": "sei-life", "strategy": "interphase", "seed": args.seed, "rows": rows,
              "identical_decision_logs": identical, "first_differences": differences,
              "cpus": available_cpus(), "machine": platform.platform(),
              "code_version": code_version()}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "campaign_processes.json"
    path.write_text(json.dumps(report, indent=1))
    plot(rows, args.out / "campaign_processes.png")
    print(json.dumps(report, indent=1))
    print(f"wrote {path}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
