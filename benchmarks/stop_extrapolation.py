"""How well does a stopped lab test's own fade predict its last cycle? (``horizon_estimate``)

The agent stops lab tests early, and learns from each how far its forecast was off. For a
stopped test that needs the value it would have reached at the horizon. This script takes the
lab tests of a store that ran the whole horizon, cuts each at ``--stop-at`` cycles, estimates
the horizon from the cut with :func:`interphase.agent.track_record.horizon_estimate` and with
the value at the cut (the older rule), and compares both with the last cycles' mean. The
trial-and-error baseline of ``discovery.py`` runs hundreds of full-length lab tests, so its
store (``--db``) is a good sample of the target region.

Usage:
    python benchmarks/stop_extrapolation.py [--db STORE] [--stop-at 20 40 80] [--out DIR]

``make bench`` runs it after ``discovery.py``, whose ``sei-life`` store is the default.

Writes ``stop_extrapolation.json`` and ``stop_extrapolation.png`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from interphase.agent.track_record import horizon_estimate
from interphase.store import Store

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
DEFAULT_DB = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "discovery-sei-life.db"
RETENTION = "Capacity retention"


def full_length_tests(store: Store, source: str, horizon: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(cycles, retention)`` of every ``source`` test in ``store`` with at least 95 % of ``horizon``."""
    tests = []
    for campaign in store.list_campaigns():
        for stored in store.list_results(campaign.name, source=source):
            points = sorted((o.index, o.value) for o in stored.result.observations
                            if o.observable == RETENTION)
            if len(points) >= 0.95 * horizon:
                tests.append((np.asarray([p[0] for p in points], dtype=float),
                              np.asarray([p[1] for p in points], dtype=float)))
    return tests


def errors_at(tests: list[tuple[np.ndarray, np.ndarray]], stop_at: int) -> dict[str, np.ndarray]:
    """Estimate less final value, for the fade estimate and for the value at the stop: ``n`` each."""
    estimate, at_stop = [], []
    for cycles, values in tests:
        final, early = float(values[-3:].mean()), cycles <= stop_at
        guess = horizon_estimate(cycles[early], values[early], float(cycles[-1]))
        if guess is None:
            continue
        estimate.append(guess - final)
        at_stop.append(float(values[early][-3:].mean()) - final)
    return {"horizon_estimate": np.asarray(estimate), "value_at_stop": np.asarray(at_stop)}


def summary(errors: np.ndarray) -> dict[str, float]:
    return {"tests": int(errors.size), "share_at_or_above_final": float(np.mean(errors >= 0)),
            "median": float(np.median(errors)), "p10": float(np.percentile(errors, 10)),
            "p90": float(np.percentile(errors, 90))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(DEFAULT_DB),
                        help="a store with full-length lab tests (default: discovery.py's sei-life store)")
    parser.add_argument("--source", default="lab-cell")
    parser.add_argument("--horizon", type=int, default=200, help="cycles of a full-length test")
    parser.add_argument("--stop-at", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if "://" not in args.db and not Path(args.db).exists():
        print(f"--db: no store at {args.db}; run benchmarks/discovery.py first or name one", file=sys.stderr)
        return 2
    tests = full_length_tests(Store(args.db), args.source, args.horizon)
    if not tests:
        print(f"no {args.source} test of {args.horizon} cycles in {args.db}", file=sys.stderr)
        return 2
    report: dict = {"db": str(args.db), "source": args.source, "tests": len(tests), "stop_at": {}}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(args.stop_at), figsize=(4 * len(args.stop_at), 3.4), sharey=True)
    for axis, stop_at in zip(np.atleast_1d(axes), args.stop_at, strict=True):
        errors = errors_at(tests, stop_at)
        report["stop_at"][str(stop_at)] = {name: summary(e) for name, e in errors.items()}
        for name, e in errors.items():
            line = report["stop_at"][str(stop_at)][name]
            print(f"stopped at cycle {stop_at}, {name}: at or above the final value in "
                  f"{line['share_at_or_above_final']:.0%} of {line['tests']}, median {line['median']:+.3f} "
                  f"(10th-90th percentile {line['p10']:+.3f} to {line['p90']:+.3f})")
            axis.hist(e, bins=40, alpha=0.6, label=name.replace("_", " "))
        axis.axvline(0.0, color="k", lw=0.8)
        axis.set_title(f"stopped at cycle {stop_at}")
        axis.set_xlabel(f"estimate less cycle-{args.horizon} {RETENTION.lower()}")
    np.atleast_1d(axes)[0].set_ylabel("lab tests")
    np.atleast_1d(axes)[0].legend()
    figure.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "stop_extrapolation.png", dpi=110)
    (args.out / "stop_extrapolation.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
