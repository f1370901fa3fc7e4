"""Discovery time of interphase against trial and error and two BoTorch baselines, over seeds.

Every strategy runs on the same world, with the same resources, target, replicate rule and
budget, on the event clock of BENCHMARKS.md (simulated lab hours; channels and CPU workers in
parallel). Campaigns live in ``OUT/discovery-<world>.db`` beside their JSON (``--db`` elsewhere);
the script resumes where it stopped and appends each finished campaign to the JSON as it
arrives, so it can run in the background across sessions. A campaign that fails becomes a row
with its error, the others go on, and the exit status is 1; a new start retries it.
``interphase bench WORLD --seeds 10 --out DIR`` is the same harness.

Usage:
    python benchmarks/discovery.py [--world sei-life] [--seeds 10] [--first-seed 0] [--strategies a,b,...]
        [--workers 2] [--budget-lab-hours 200000] [--wall-hours H] [--agent JSON] [--db PATH]
        [--out DIR] [--tag NAME]

Writes ``discovery-<world>.json`` (per seed: discovery time, cost by source, runs, verified;
per strategy: median and IQR, seeds verified, acceleration of interphase) and
``discovery-<world>.png``, and prints one line per strategy. A variant's settings run under
``--tag NAME`` write ``discovery-<world>.NAME.json`` and ``.png`` instead, so that their rows
never mix with the ledger's.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from interphase.agent.bench import (
    FAILED,
    STRATEGIES,
    failure_text,
    finished_rows,
    run_benchmark,
    summary_lines,
)
from interphase.agent.bench_config import parse_agent_settings
from interphase.report.discovery import discovery_figure
from interphase.schema import InvalidInputError

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-lab-hours", type=float, default=200_000.0)
    parser.add_argument("--wall-hours", type=float, default=None,
                        help="real hours each campaign may run (default: no limit)")
    parser.add_argument("--agent", default="{}",
                        help="strategy settings, JSON by strategy ({\"mf-gp\": {...}}), or the interphase "
                             "agent's own; they add to the defaults")
    parser.add_argument("--db", type=Path, default=None, help="store (default OUT/discovery-<world>.db)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--tag", default=None,
                        help="a variant's name: its figures go to discovery-<world>.<tag>.json, beside "
                             "the ledger (e.g. --agent '{\"replicate_misses\": \"first-launch\"}' "
                             "--tag first-launch)")
    args = parser.parse_args(argv)
    world = Path(args.world).stem
    if args.tag is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.tag):
        parser.error(f"--tag: {args.tag!r} is not a name of lowercase letters, digits and dashes")
    stem = f"discovery-{world}" + (f".{args.tag}" if args.tag else "")
    json_path = args.out / f"{stem}.json"
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]

    def show(row: dict) -> None:
        if row["status"] == FAILED:
            print(f"{row['campaign']}: failed: {failure_text(row)}", flush=True)
            return
        found = (f"verified at {row['discovery_h']:.0f} h" if row["verified"]
                 else f"not verified ({row['status']})")
        print(f"{row['campaign']}: {found}, {row['runs']} runs, {row['lab_hours']:.0f} lab h, "
              f"{row['wall_seconds']:.0f} s", flush=True)

    try:
        report = run_benchmark(args.world, seeds=args.seeds, first_seed=args.first_seed,
                               strategies=strategies, workers=args.workers,
                               budget_lab_hours=args.budget_lab_hours, wall_hours=args.wall_hours,
                               db=args.db or args.out / f"{stem}.db", json_path=json_path,
                               settings=parse_agent_settings(args.agent, strategies), on_result=show)
    except InvalidInputError as exc:
        parser.error(str(exc))
    discovery_figure(finished_rows(report["runs"]), args.out / f"{stem}.png", world)
    print("\n".join(summary_lines(report["summary"], report.get("floor_h"))))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    failed = [row["campaign"] for row in report["runs"]
              if row["strategy"] in strategies and row["seed"] in seeds and row["status"] == FAILED]
    if failed:
        print(f"{len(failed)} campaign(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
