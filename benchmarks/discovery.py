"""Discovery time of interphase against trial and error and two BoTorch baselines, over seeds.

Every strategy runs on the same world, with the same resources, target, replicate rule and
budget, on the event clock of BENCHMARKS.md (simulated lab hours; channels and CPU workers in
parallel). Campaigns live in ``benchmarks/data/discovery-<world>.db``; the script resumes where
it stopped and appends each finished campaign to the JSON as it arrives, so it can run in the
background across sessions. ``interphase bench WORLD --seeds 10`` is the same harness.

Usage:
    python benchmarks/discovery.py [--world sei-life] [--seeds 10] [--strategies a,b,...]
        [--workers 2] [--budget-lab-hours 200000] [--agent JSON] [--db PATH] [--out DIR] [--tag NAME]

Writes ``discovery-<world>.json`` (per seed: discovery time, cost by source, runs, verified;
per strategy: median and IQR, seeds verified, acceleration of interphase) and
``discovery-<world>.png``, and prints one line per strategy. A variant's settings run under
``--tag NAME`` write ``discovery-<world>.NAME.json`` and ``.png`` instead, so that their rows
never mix with the ledger's.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from interphase.agent.bench import STRATEGIES, run_benchmark, summary_lines
from interphase.report.discovery import discovery_figure

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
DATA_DIR = ROOT / "benchmarks" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-lab-hours", type=float, default=200_000.0)
    parser.add_argument("--agent", default="{}", help="interphase agent settings, JSON")
    parser.add_argument("--db", type=Path, default=None,
                        help="store (default benchmarks/data/discovery-<world>.db)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--tag", default=None,
                        help="a variant's name: its figures go to discovery-<world>.<tag>.json, beside "
                             "the ledger (e.g. --agent '{\"replicate_misses\": \"first-launch\"}' "
                             "--tag first-launch)")
    args = parser.parse_args(argv)
    world = Path(args.world).stem
    if args.tag is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.tag):
        parser.error(f"--tag: {args.tag!r} is not a name of lowercase letters, digits and dashes")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"discovery-{world}" + (f".{args.tag}" if args.tag else "")
    json_path = args.out / f"{stem}.json"
    settings = {"interphase": json.loads(args.agent)} if args.agent != "{}" else None

    def show(row: dict) -> None:
        found = (f"verified at {row['discovery_h']:.0f} h" if row["verified"]
                 else f"not verified ({row['status']})")
        print(f"{row['campaign']}: {found}, {row['runs']} runs, {row['lab_hours']:.0f} lab h, "
              f"{row['wall_seconds']:.0f} s", flush=True)

    report = run_benchmark(args.world, seeds=args.seeds, first_seed=args.first_seed,
                           strategies=[s.strip() for s in args.strategies.split(",") if s.strip()],
                           workers=args.workers, budget_lab_hours=args.budget_lab_hours,
                           db=args.db or DATA_DIR / f"discovery-{world}.db", json_path=json_path,
                           settings=settings, on_result=show)
    discovery_figure(report["runs"], args.out / f"{stem}.png", world)
    print("\n".join(summary_lines(report["summary"], report.get("floor_h"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
