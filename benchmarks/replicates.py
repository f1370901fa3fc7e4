"""Do the agent's replicates reproduce the cells they replicate? Outcomes by temperature, with trajectories.

The interphase agent verifies a hit with replicate tests of the same design, and starts a
replicate early, on the first cycles of a test that forecast a hit. A replicate is a new cell: the
emulated lab builds each with its own log-normal spread of the truth's parameters. This script
takes every replicate lab test of the interphase campaigns in the stores and sets its outcome
beside the test it replicated (the design's first lab test), by ambient temperature, and plots
the capacity retention of both.

Usage:
    python benchmarks/replicates.py [--db STORE [STORE ...]] [--world sei-life] [--source lab-cell]

``make bench`` runs it after ``discovery.py``, whose ``sei-life`` store is the default.

Writes ``replicates.json`` and ``replicates.png`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from interphase.agent.plan import resolve
from interphase.agent.target import TargetCheck
from interphase.schema import Result
from interphase.schema.run_config import RunConfig
from interphase.store import Store

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
DEFAULT_DB = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "discovery-sei-life.db"
TEMPERATURE = "Ambient temperature [K]"
RETENTION = "Capacity retention"
BANDS_C = ((-np.inf, 25.0, "below 25 °C"), (25.0, 35.0, "25-35 °C"), (35.0, np.inf, "35 °C and above"))


def outcome(result: Result | None, check: TargetCheck) -> dict[str, Any]:
    """Status, cycles, last retention and whether ``result`` meets the target (``running`` when None)."""
    if result is None:
        return {"status": "running", "cycles": None, "last_retention": None, "meets": False, "retention": []}
    points = sorted((o.index, o.value) for o in result.observations if o.observable == RETENTION)
    return {"status": result.status.value, "cycles": result.cycles_run,
            "last_retention": points[-1][1] if points else None, "meets": check.meets(result),
            "retention": [[float(i), float(v)] for i, v in points]}


def replicate_pairs(store: Store, campaign: str, source: str, check: TargetCheck) -> list[dict[str, Any]]:
    """Every replicate of ``source`` in ``campaign`` with the first test of its design.

    Returns:
        One row per replicate: ``campaign``, ``clock_h`` of its launch, ``temperature_c``, the
        ``why`` of its launch, and the ``replicate`` and ``original`` outcomes (:func:`outcome`).
    """
    results = {r.request_id: r.result for r in store.list_results(campaign, source=source) if r.request_id}
    first: dict[str, str] = {}  # design id -> request id of its first test that is not a replicate
    launches = []
    for decision in store.list_decisions(campaign):
        chosen = decision.chosen
        if chosen.get("kind") != "launch" or chosen.get("resource") != source:
            continue
        for run in chosen.get("runs", []):
            if run.get("replicate_of"):
                launches.append((float(chosen["clock_h"]), run))
            else:
                first.setdefault(run["design_id"], run["request_id"])
    rows = []
    for clock_h, run in launches:
        original = first.get(run["replicate_of"])
        rows.append({"campaign": campaign, "clock_h": clock_h,
                     "temperature_c": float(run["design"][TEMPERATURE]) - 273.15, "why": run.get("why", ""),
                     "replicate": outcome(results.get(run["request_id"]), check),
                     "original": outcome(results.get(original) if original else None, check)})
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per temperature band: replicates, those that ended, met the target, and originals that met it."""
    out = []
    for low, high, label in BANDS_C:
        band = [r for r in rows if low <= r["temperature_c"] < high]
        ended = [r for r in band if r["replicate"]["status"] != "running"]
        out.append({"band": label, "replicates": len(band), "ended": len(ended),
                    "replicate_met": sum(r["replicate"]["meets"] for r in ended),
                    "replicate_stopped": sum(r["replicate"]["status"] == "stopped" for r in ended),
                    "original_met": sum(r["original"]["meets"] for r in band)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", nargs="+", default=[str(DEFAULT_DB)],
                        help="stores holding interphase campaigns (default: the discovery benchmark's)")
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--source", default="lab-cell")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    check = resolve(RunConfig(name="replicates", world=args.world, strategy="interphase")).check
    rows: list[dict[str, Any]] = []
    for path in args.db:
        if not Path(path).exists():
            print(f"--db: no store at {path}; run benchmarks/discovery.py first", file=sys.stderr)
            return 2
        store = Store(path)
        for campaign in store.list_campaigns():
            if "-interphase-" in campaign.name:
                rows += replicate_pairs(store, campaign.name, args.source, check)
    if not rows:
        print(f"--db: no interphase campaign with a replicate on {args.source}", file=sys.stderr)
        return 2
    report = {"world": args.world, "source": args.source, "bands": summarise(rows), "replicates": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replicates.json").write_text(json.dumps(report, indent=1))
    lower = [b.lower for b in check.target.bounds if b.observable == RETENTION and b.lower is not None]
    plot(rows, args.out / "replicates.png", bound=min(lower, default=None))
    for band in report["bands"]:
        print(f"{band['band']}: {band['replicates']} replicates, {band['ended']} ended, "
              f"{band['replicate_met']} met the target, {band['replicate_stopped']} stopped; "
              f"their originals met it {band['original_met']} times")
    return 0


def plot(rows: list[dict[str, Any]], path: Path, bound: float | None) -> None:
    """Retention against cycle: originals solid, replicates dashed, coloured by ambient temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.0, 4.4))
    colours = plt.get_cmap("coolwarm")
    temperatures = [r["temperature_c"] for r in rows]
    low, high = min(temperatures), max(temperatures)
    for row in rows:
        colour = colours((row["temperature_c"] - low) / max(high - low, 1e-9))
        for part, style in (("original", "-"), ("replicate", "--")):
            points = np.asarray(row[part]["retention"])
            if len(points):
                axis.plot(points[:, 0], points[:, 1], style, color=colour, linewidth=0.9, alpha=0.8)
    if bound is not None:
        axis.axhline(bound, color="black", linestyle=":", linewidth=1.0, label=f"bound {bound}")
    axis.plot([], [], "-", color="grey", label="first test of the design")
    axis.plot([], [], "--", color="grey", label="its replicate")
    mappable = plt.cm.ScalarMappable(cmap=colours, norm=plt.Normalize(low, high))
    figure.colorbar(mappable, ax=axis, label="ambient temperature [°C]")
    axis.set_xlabel("cycle")
    axis.set_ylabel(RETENTION)
    axis.set_ylim(0.9, 1.02)
    axis.legend(frameon=False, loc="lower left")
    axis.set_title("Replicates and the tests they replicate")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
