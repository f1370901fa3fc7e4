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

It then reads the same cut tests as the agent reviews running ones, through
:class:`interphase.agent.fade.FadeCalibration` calibrated on a simulator's full-length runs
(``--calibrate-on``, from ``--calibration-db``, default the same store): how often tests given
each P(meet) met the world's bound, and what the agent's thresholds would have done (replicates
asked above ``--replicate-above``: how many were hits; stops below ``--stop-below``: how many
hits they cost).

Writes ``stop_extrapolation.json`` and ``stop_extrapolation.png`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from interphase.agent.fade import FadeCalibration
from interphase.agent.track_record import horizon_estimate
from interphase.sources.world import load_world
from interphase.store import Store

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
DEFAULT_DB = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "discovery-sei-life.db"
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


Reading = tuple[dict[str, object] | None, np.ndarray | None]


def calibrated(tests: list[tuple[np.ndarray, np.ndarray]], fade: FadeCalibration, stop_at: int, bound: float,
               replicate_above: float, stop_below: float) -> Reading:
    """P(meet) of each test cut at ``stop_at`` from its calibrated fade, against whether it met ``bound``.

    Returns:
        The reliability table (P(meet) bins: tests, share that met the bound) and the replicates
        and stops the thresholds ask; the calibrated median less the final value, ``n``. Both
        None without a calibration at that cut.
    """
    from scipy.stats import norm

    def meets(finals: np.ndarray, std: float) -> np.ndarray:
        return 1.0 - norm.cdf((bound - finals) / std)

    p_meet, hit, errors = [], [], []
    for cycles, values in tests:
        early = cycles <= stop_at
        p = fade.probability(cycles[early], values[early], meets)
        heading = fade.final(cycles[early], values[early])
        if p is None or heading is None:
            continue
        final = float(values[-3:].mean())
        p_meet.append(p)
        hit.append(final >= bound)
        errors.append(heading[0] - final)
    if not p_meet:
        return None, None
    p, met = np.asarray(p_meet), np.asarray(hit)
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0 + 1e-9]
    table = [{"p_meet": f"{lo:.1f}-{min(hi, 1.0):.1f}", "tests": int(((p >= lo) & (p < hi)).sum()),
              "met": float(met[(p >= lo) & (p < hi)].mean()) if ((p >= lo) & (p < hi)).any() else None}
             for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    asked, stopped = p > replicate_above, p < stop_below
    return {"tests": int(p.size), "hits": int(met.sum()), "reliability": table,
            "replicates_asked": int(asked.sum()), "replicates_of_hits": int((asked & met).sum()),
            "stopped": int(stopped.sum()), "hits_stopped": int((stopped & met).sum())}, np.asarray(errors)


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
    parser.add_argument("--calibrate-on", default="pybamm-spme",
                        help="the simulator whose full-length runs calibrate the fade (agent: its reference)")
    parser.add_argument("--calibration-db", default=None, help="the store of those runs (default: --db)")
    parser.add_argument("--world", default="sei-life", help="the world whose lower bound a test must meet")
    parser.add_argument("--replicate-above", type=float, default=0.6)
    parser.add_argument("--stop-below", type=float, default=0.02)
    args = parser.parse_args(argv)
    if "://" not in args.db and not Path(args.db).exists():
        print(f"--db: no store at {args.db}; run benchmarks/discovery.py first or name one", file=sys.stderr)
        return 2
    tests = full_length_tests(Store(args.db), args.source, args.horizon)
    if not tests:
        print(f"no {args.source} test of {args.horizon} cycles in {args.db}", file=sys.stderr)
        return 2
    report: dict = {"db": str(args.db), "source": args.source, "tests": len(tests), "stop_at": {},
                    "calibrated": {}}
    calibration_db = args.calibration_db or args.db
    runs = full_length_tests(Store(calibration_db), args.calibrate_on, args.horizon)
    bound = next(b.lower for b in load_world(args.world).target.bounds
                 if b.observable == RETENTION and b.lower is not None)
    fade = FadeCalibration(runs, horizon=args.horizon, scatter_std=0.005)
    if fade.ratios(min(args.stop_at)) is None:
        print(f"no calibrated reading: {len(runs)} full-length {args.calibrate_on} runs in {calibration_db} "
              f"(at least {fade.min_trajectories}); name them with --calibrate-on and --calibration-db")
    report["calibration"] = {"db": str(calibration_db), "source": args.calibrate_on, "runs": len(runs),
                             "bound": bound, "replicate_above": args.replicate_above,
                             "stop_below": args.stop_below}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(args.stop_at), figsize=(4 * len(args.stop_at), 3.4), sharey=True)
    for axis, stop_at in zip(np.atleast_1d(axes), args.stop_at, strict=True):
        errors = errors_at(tests, stop_at)
        reading, heading_errors = calibrated(tests, fade, stop_at, bound, args.replicate_above,
                                             args.stop_below)
        if heading_errors is not None:
            errors["calibrated_median"] = heading_errors
        report["stop_at"][str(stop_at)] = {name: summary(e) for name, e in errors.items()}
        report["calibrated"][str(stop_at)] = reading
        for name, e in errors.items():
            line = report["stop_at"][str(stop_at)][name]
            print(f"stopped at cycle {stop_at}, {name}: at or above the final value in "
                  f"{line['share_at_or_above_final']:.0%} of {line['tests']}, median {line['median']:+.3f} "
                  f"(10th-90th percentile {line['p10']:+.3f} to {line['p90']:+.3f})")
            axis.hist(e, bins=40, alpha=0.5, label=name.replace("_", " "))
        if reading is not None:
            bins = ", ".join(f"{row['p_meet']} {row['met']:.0%} of {row['tests']}"
                             for row in reading["reliability"] if row["tests"])
            print(f"stopped at cycle {stop_at}, P(meet) from the fade calibrated on {len(runs)} "
                  f"{args.calibrate_on} runs, share that met the bound: {bins}; "
                  f"replicates asked {reading['replicates_asked']} "
                  f"({reading['replicates_of_hits']} hits), stops {reading['stopped']} "
                  f"({reading['hits_stopped']} of {reading['hits']} hits)")
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
