"""The emulated lab of a world: its landscape, failure rates, early-stop costs, and the target's rarity.

1. ``lab-cell`` runs Sobol designs of the whole space and of the target's design region
   (e.g. charge >= 1.5C) over the full horizon, one cell (seed) per design, through
   ``LocalExecutor``. From them: retention at the last cycle, failure causes, the lab
   hours each test took against the estimate made before it, and the fraction of the
   space that meets the target for a range of thresholds R (to tune R so that only
   1-3 % of the space meets it, as BENCHMARKS.md asks).
2. ``pybamm-spm`` runs the same whole-space designs: how far the cheapest simulator is
   from the lab (rank correlation and bias of retention).
3. Failure rate: ``--defect-designs`` designs stopped after cycle 1; the share of
   assembly defects against the configured rate, with its 95 % binomial interval.
4. Early stopping: tests stopped after ``--stop-at`` cycles cost formation plus the
   hours of those cycles only.

Usage:
    python benchmarks/lab.py [--world sei-life] [--designs 64] [--region-designs 64]
        [--defect-designs 200] [--stop-at 20] [--workers 2] [--out DIR]

Writes ``lab.json`` and ``lab.png`` under ``benchmarks/results/`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from interphase.execution import LocalExecutor, RunTask
from interphase.schema import Design, DesignSpace, Result, ResultStatus, StopRule
from interphase.sources import world_source
from interphase.sources.world import World, load_world

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
RETENTION = "Capacity retention"


def region_space(world: World) -> DesignSpace:
    """The design space cut to the target's ``design_bounds`` (e.g. charge >= 1.5C)."""
    bounds = world.target.design_bounds if world.target is not None else {}
    variables = []
    for variable in world.design_space.variables:
        if variable.name in bounds:
            low, high = bounds[variable.name]
            variable = variable.model_copy(update={"lower": float(low), "upper": float(high), "unit": None})
        variables.append(variable)
    return world.design_space.model_copy(update={"variables": tuple(variables)})


def region_fraction(world: World) -> float:
    """Share of the unit cube inside the target's design bounds (volume, in the variables' own scale)."""
    share = 1.0
    bounds = world.target.design_bounds if world.target is not None else {}
    for name, (low, high) in bounds.items():
        cube = world.design_space.to_unit_cube(
            [Design(values=_centre_with(world, name, v)) for v in (low, high)]
        )
        index = world.design_space.names.index(name)
        share *= abs(float(cube[1][index]) - float(cube[0][index]))
    return share


def _centre_with(world: World, name: str, value: float) -> dict[str, float]:
    centre = world.design_space.from_unit_cube([[0.5] * world.design_space.dim])[0].values
    return {**centre, name: float(value)}


def run_batch(
    world_ref: str,
    source: str,
    designs: list[Design],
    protocol: Any,
    workers: int,
    label: str,
    seed0: int = 0,
) -> list[Result]:
    """Run ``source`` on every design (seed ``seed0 + i``) through the local executor."""
    tasks = [
        RunTask(task_id=str(i), source=source, design=d, protocol=protocol, seed=seed0 + i, world=world_ref)
        for i, d in enumerate(designs)
    ]
    results: list[Result | None] = [None] * len(tasks)
    with LocalExecutor(workers, failure_limit=None) as executor, Progress() as progress:
        bar = progress.add_task(label, total=len(tasks))
        for outcome in executor.map_unordered(tasks):
            results[int(outcome.task.task_id)] = outcome.result
            progress.advance(bar)
    return [r for r in results if r is not None]


def last_retention(result: Result, horizon: int) -> float | None:
    """Retention at the horizon's last cycle, or None if the test did not get there."""
    values = [o.value for o in result.observations if o.observable == RETENTION and int(o.index) == horizon]
    return values[0] if values else None


def row(result: Result, horizon: int, estimate_h: float | None = None) -> dict[str, Any]:
    return {
        "design": result.design.values,
        "status": result.status.value,
        "cycles_run": result.cycles_run,
        "retention": last_retention(result, horizon),
        "lab_hours": result.cost.lab_hours,
        "estimated_lab_hours": estimate_h,
        "cpu_seconds": result.cost.cpu_seconds,
        "failure_cause": result.metadata.get("failure_cause"),
        "emulator_cpu_seconds": result.metadata.get("emulator_cpu_seconds"),
    }


def target_table(world: World, region_rows: list[dict[str, Any]], share: float) -> list[dict[str, float]]:
    """Fraction of the whole space meeting ``retention >= R`` inside the design region, for several R."""
    values = np.array([r["retention"] if r["retention"] is not None else -1.0 for r in region_rows])
    table = []
    for threshold in np.round(np.arange(0.80, 0.991, 0.005), 3):
        inside = float(np.mean(values >= threshold))
        table.append(
            {"R": float(threshold), "fraction_of_region": inside, "fraction_of_space": inside * share}
        )
    return table


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--designs", type=int, default=64)
    parser.add_argument("--region-designs", type=int, default=64)
    parser.add_argument("--defect-designs", type=int, default=200)
    parser.add_argument("--stop-at", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulator", default="pybamm-spm")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    world = load_world(args.world)
    horizon = world.protocol.n_cycles
    lab = world_source(world, "lab-cell")
    began = time.monotonic()

    space_designs = world.design_space.sample_sobol(args.designs, args.seed)
    region_designs = region_space(world).sample_sobol(args.region_designs, args.seed + 1)
    region_designs = [world.design_space.validate_design(d.values) for d in region_designs]
    space_results = run_batch(
        args.world, "lab-cell", space_designs, world.protocol, args.workers, "lab-cell: space"
    )
    region_results = run_batch(
        args.world,
        "lab-cell",
        region_designs,
        world.protocol,
        args.workers,
        "lab-cell: target region",
        seed0=10_000,
    )
    sim_results = run_batch(
        args.world, args.simulator, space_designs, world.protocol, args.workers, f"{args.simulator}: space"
    )
    first_cycle = world.protocol.model_copy(update={"stop": StopRule(at_cycle=1)})
    defect_designs = world.design_space.sample_sobol(args.defect_designs, args.seed + 2)
    defect_results = run_batch(
        args.world, "lab-cell", defect_designs, first_cycle, args.workers, "lab-cell: defects", seed0=20_000
    )
    stopped_protocol = world.protocol.model_copy(update={"stop": StopRule(at_cycle=args.stop_at)})
    stop_designs = space_designs[:8]
    stopped_results = run_batch(
        args.world, "lab-cell", stop_designs, stopped_protocol, args.workers, "lab-cell: stopped early"
    )

    space_rows = [
        row(r, horizon, lab.estimate_cost(r.design, world.protocol).lab_hours) for r in space_results
    ]
    region_rows = [row(r, horizon) for r in region_results]
    sim_rows = [row(r, horizon) for r in sim_results]
    share = region_fraction(world)
    defects = sum(r.metadata.get("failure_cause") == "assembly defect" for r in defect_results)
    from scipy.stats import binomtest

    configured = float(world.truth.get("failures", {}).get("assembly_defect_rate", 0.0))
    interval = binomtest(defects, len(defect_results), configured or 0.5).proportion_ci(0.95)
    paired = [
        (s["retention"], m["retention"])
        for s, m in zip(space_rows, sim_rows, strict=True)
        if s["retention"] is not None and m["retention"] is not None
    ]
    stop_pairs = [
        {
            "stopped_hours": s.cost.lab_hours,
            "full_hours": f.cost.lab_hours,
            "stopped_cycles": s.cycles_run,
            "status": s.status.value,
            "formation_plus_prefix_hours": None,
        }
        for s, f in zip(stopped_results, space_results[:8], strict=True)
    ]
    causes: dict[str, int] = {}
    for r in space_rows + region_rows:
        if r["status"] == ResultStatus.FAILED.value:
            causes[r["failure_cause"] or "?"] = causes.get(r["failure_cause"] or "?", 0) + 1
    retained = [r["retention"] for r in space_rows if r["retention"] is not None]
    report = {
        "world": args.world,
        "horizon": horizon,
        "seed": args.seed,
        "wall_seconds": time.monotonic() - began,
        "lab_cell_version": lab.spec.version,
        "space": {
            "n": len(space_rows),
            "retention_min": min(retained, default=None),
            "retention_max": max(retained, default=None),
            "failed": sum(r["status"] == "failed" for r in space_rows),
            "rows": space_rows,
        },
        "region": {
            "n": len(region_rows),
            "share_of_space": share,
            "failed": sum(r["status"] == "failed" for r in region_rows),
            "rows": region_rows,
        },
        "failure_causes": causes,
        "target_fraction": target_table(world, region_rows, share),
        "simulator": {
            "name": args.simulator,
            "rows": sim_rows,
            "spearman_retention": spearman(*zip(*paired, strict=True)) if len(paired) > 2 else None,
            "mean_bias_retention": float(np.mean([m - s for s, m in paired])) if paired else None,
        },
        "defects": {
            "n": len(defect_results),
            "defects": defects,
            "rate": defects / max(len(defect_results), 1),
            "configured_rate": configured,
            "ci95": [interval.low, interval.high],
            "configured_inside_ci95": interval.low <= configured <= interval.high,
        },
        "early_stop": {"at_cycle": args.stop_at, "pairs": stop_pairs},
        "emulator_cpu_seconds_per_full_test": float(
            np.median([r["emulator_cpu_seconds"] for r in space_rows if r["status"] == "succeeded"] or [0.0])
        ),
        "hours_estimate_ratio_median": float(
            np.median(
                [r["lab_hours"] / r["estimated_lab_hours"] for r in space_rows if r["status"] == "succeeded"]
                or [0]
            )
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lab.json").write_text(json.dumps(report, indent=1))
    plot(report, world, args.out / "lab.png")
    print(summarise(report))
    return 0


def plot(report: dict[str, Any], world: World, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    rows = report["space"]["rows"] + report["region"]["rows"]
    ok = [r for r in rows if r["retention"] is not None]
    failed = [r for r in rows if r["status"] == "failed"]
    temps = [r["design"]["Ambient temperature [K]"] - 273.15 for r in ok]
    scatter = axes[0].scatter(
        [r["design"]["Charge C-rate"] for r in ok],
        [r["retention"] for r in ok],
        c=temps,
        cmap="coolwarm",
        s=18,
    )
    axes[0].scatter(
        [r["design"]["Charge C-rate"] for r in failed],
        [0.5] * len(failed),
        marker="x",
        c="k",
        label=f"failed ({len(failed)})",
    )
    fig.colorbar(scatter, ax=axes[0], label="ambient temperature [°C]")
    axes[0].set(
        xlabel="charge C-rate",
        ylabel=f"lab-cell retention at cycle {report['horizon']}",
        title="lab-cell landscape (space + target region)",
    )
    axes[0].legend(loc="lower left")
    sim = {json.dumps(r["design"], sort_keys=True): r["retention"] for r in report["simulator"]["rows"]}
    pairs = [
        (sim.get(json.dumps(r["design"], sort_keys=True)), r["retention"]) for r in report["space"]["rows"]
    ]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if pairs:
        axes[1].scatter(*zip(*pairs, strict=True), s=18)
        low = min(min(p) for p in pairs)
        axes[1].plot([low, 1], [low, 1], "k--", lw=0.8)
    axes[1].set(
        xlabel=f"{report['simulator']['name']} retention",
        ylabel="lab-cell retention",
        title=f"simulator vs lab (Spearman {report['simulator']['spearman_retention'] or float('nan'):.2f})",
    )
    table = report["target_fraction"]
    axes[2].plot([t["R"] for t in table], [100 * t["fraction_of_space"] for t in table], "o-")
    axes[2].axhspan(1, 3, color="green", alpha=0.15, label="1-3 % of the space")
    if world.target is not None and world.target.bounds:
        axes[2].axvline(world.target.bounds[0].lower, color="k", ls="--", label="world's R")
    axes[2].set(
        xlabel="R (retention threshold)",
        ylabel="% of design space meeting the target",
        title="target rarity",
        yscale="log",
    )
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def summarise(report: dict[str, Any]) -> str:
    defects = report["defects"]
    lines = [
        f"lab-cell {report['lab_cell_version']}, {report['horizon']} cycles, "
        f"wall {report['wall_seconds']:.0f} s",
        f"space: retention {report['space']['retention_min']:.3f}-{report['space']['retention_max']:.3f}, "
        f"failed {report['space']['failed']}/{report['space']['n']}; region (share "
        f"{report['region']['share_of_space']:.3f}) failed "
        f"{report['region']['failed']}/{report['region']['n']}",
        f"failure causes: {report['failure_causes']}",
        f"defects: {defects['defects']}/{defects['n']} = {defects['rate']:.3f} (configured "
        f"{defects['configured_rate']}, 95% CI {defects['ci95'][0]:.3f}-{defects['ci95'][1]:.3f})",
        f"{report['simulator']['name']} vs lab: Spearman {report['simulator']['spearman_retention']}, "
        f"mean bias {report['simulator']['mean_bias_retention']}",
        f"emulator CPU per full test {report['emulator_cpu_seconds_per_full_test']:.2f} s; "
        f"hours / estimate median {report['hours_estimate_ratio_median']:.3f}",
    ]
    for pair in report["early_stop"]["pairs"][:3]:
        lines.append(
            f"stopped after {pair['stopped_cycles']}: {pair['stopped_hours']:.1f} h vs full "
            f"{pair['full_hours']:.1f} h"
        )
    lines.append(
        "R -> % of space: "
        + ", ".join(
            f"{t['R']:.3f}:{100 * t['fraction_of_space']:.2f}"
            for t in report["target_fraction"]
            if 0.85 <= t["R"] <= 0.97
        )
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
