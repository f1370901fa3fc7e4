"""How long do lab tests take against what the lab's cost model planned? (``estimate_cost``)

Every decision the agent makes weighs value per lab hour, and the discovery benchmark's floor
(``bench.discovery_floor_h``: the shortest full-length test of the target region) is the cost
model's planned hours. The emulated lab charges the hours a cell really cycled: a constant-current
step ends at the voltage limit, before the ``1 / C-rate`` hours the plan counts, and a voltage
hold ends at its current limit, before or after the plan's ``cv_hold_hours``. This script takes
every full-length test of ``--source`` in one or more stores and sets the hours it took against
the hours its source planned for it.

Usage:
    python benchmarks/lab_hours.py [--db STORE [STORE ...]] [--world sei-life] [--out DIR]

``make bench`` runs it after ``discovery.py``, whose ``sei-life`` store is the default.

Writes ``lab_hours.json`` and ``lab_hours.png`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from interphase.agent.bench import discovery_floor_h
from interphase.agent.plan import resolve
from interphase.schema.run_config import RunConfig
from interphase.store import Store

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
DEFAULT_DB = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "discovery-sei-life.db"
TEMPERATURE = "Ambient temperature [K]"
CHARGE = "Charge C-rate"


def planned_and_taken(stores: list[Store], world: str, source: str) -> np.ndarray:
    """Planned and taken hours of every full-length ``source`` test in ``stores``.

    A test is full-length when it ran every cycle its protocol planned. Its planned hours are
    what ``source`` estimates for its design on the world's protocol (formation included), and
    the hours it took are the lab hours its result was charged.

    Returns:
        ``N x 5``: planned lab hours, hours taken, ambient temperature [K], charge C-rate, and 1
        where the design lies in the world's target region (else 0).
    """
    plan = resolve(RunConfig(name="lab-hours", world=world, strategy="trial-and-error"))
    lab, protocol = plan.sources[source], plan.world.protocol
    rows = []
    for store in stores:
        for campaign in store.list_campaigns():
            for stored in store.list_results(campaign.name, source=source):
                result = stored.result
                if (result.cycles_run or 0) < protocol.cycles_planned:
                    continue
                design = store.get_design(stored.design_id).design
                planned = float(lab.estimate_cost(design, protocol).lab_hours)
                rows.append((planned, float(result.cost.lab_hours), float(design.values[TEMPERATURE]),
                             float(design.values[CHARGE]), float(plan.check.in_region(design))))
    return np.asarray(rows, dtype=float).reshape(-1, 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", nargs="+", default=[str(DEFAULT_DB)],
                        help="stores with full-length lab tests (default: discovery.py's sei-life store)")
    parser.add_argument("--world", default="sei-life",
                        help="the world whose protocol and lab planned the tests")
    parser.add_argument("--source", default="lab-cell")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    missing = [db for db in args.db if "://" not in db and not Path(db).exists()]
    if missing:
        print(f"--db: no store at {', '.join(missing)}; run benchmarks/discovery.py first or name one",
              file=sys.stderr)
        return 2
    tests = planned_and_taken([Store(db) for db in args.db], args.world, args.source)
    if not len(tests):
        print(f"no full-length {args.source} test in {', '.join(args.db)}", file=sys.stderr)
        return 2
    planned, taken, inside = tests[:, 0], tests[:, 1], tests[:, 4] > 0
    ratio = taken / planned
    floor_h = discovery_floor_h(args.world)
    shortest_inside = float(taken[inside].min()) if inside.any() else None
    report = {
        "db": args.db, "world": args.world, "source": args.source, "tests": int(len(tests)),
        "taken_over_planned": {"median": float(np.median(ratio)), "p10": float(np.percentile(ratio, 10)),
                               "p90": float(np.percentile(ratio, 90)), "min": float(ratio.min()),
                               "max": float(ratio.max())},
        "planned_h": {"min": float(planned.min()), "median": float(np.median(planned))},
        "taken_h": {"min": float(taken.min()), "median": float(np.median(taken))},
        "planned_floor_h": floor_h,
        "target_region": {"tests": int(inside.sum()), "shortest_taken_h": shortest_inside,
                          "under_planned_floor": int((taken[inside] < floor_h).sum())},
    }
    print(f"{len(tests)} full-length {args.source} tests took {report['taken_over_planned']['median']:.2f}x "
          f"the hours planned (median; 10th-90th percentile {report['taken_over_planned']['p10']:.2f}-"
          f"{report['taken_over_planned']['p90']:.2f}, range {ratio.min():.2f}-{ratio.max():.2f}); "
          f"the shortest took {taken.min():.0f} h, planned {planned[np.argmin(taken)]:.0f} h")
    if shortest_inside is not None:
        print(f"of the {int(inside.sum())} in the target region, the shortest took {shortest_inside:.0f} h "
              f"and {report['target_region']['under_planned_floor']} ran shorter than the planned floor "
              f"of {floor_h:.0f} h (bench.discovery_floor_h)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.2, 4.2))
    shown = axis.scatter(planned, taken, c=tests[:, 2] - 273.15, cmap="coolwarm", s=np.where(inside, 22, 8))
    figure.colorbar(shown, label="ambient temperature [degC]")
    low, high = min(planned.min(), taken.min()) * 0.95, max(planned.max(), taken.max()) * 1.05
    axis.plot([low, high], [low, high], color="k", lw=0.8, label="as planned")
    axis.axhline(floor_h, color="grey", ls="--", lw=0.8, label=f"planned floor {floor_h:.0f} h")
    axis.set_xlabel("planned [h] (cost model)")
    axis.set_ylabel("taken [h] (lab)")
    axis.set_title(f"{len(tests)} full-length {args.source} tests")
    axis.legend(loc="upper left")
    figure.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "lab_hours.png", dpi=110)
    (args.out / "lab_hours.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
