"""How rare a world's target is on its lab: the share of the searchable region that meets it.

A sensible trial-and-error campaign tests only designs that satisfy the target's own design
bounds (a fast-charging cell is charged fast), so the rarity that sets the ceiling on
acceleration (BENCHMARKS.md: about 1/(p c) rounds) is the share ``p`` of that *region*
whose lab cells meet the target. This script runs ``lab-cell`` over the full horizon on
``--designs`` Sobol designs of the region, one new cell (seed) per design, and tabulates the
share meeting "retention >= R at the last cycle" and "capacity >= Q at the first cycle" over
grids of R and Q. Results go into a SQLite store (``benchmarks/data/<world>-landscape.db``,
keyed by design index), so the script resumes where it stopped.

Usage:
    python benchmarks/target_landscape.py [--world sei-life] [--designs 256] [--workers 1]
        [--out DIR]

Writes ``target_landscape.json`` and ``target_landscape.png`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress

from interphase.execution import LocalExecutor, RunTask
from interphase.schema import CampaignSpec, DesignSpace, FailureKind
from interphase.sources import world_source
from interphase.sources.world import World, load_world
from interphase.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
DATA_DIR = ROOT / "benchmarks" / "data"
RETENTION, CAPACITY = "Capacity retention", "Discharge capacity [A.h]"


def region_space(world: World) -> DesignSpace:
    """The design space cut to the target's ``design_bounds``."""
    bounds = world.target.design_bounds if world.target is not None else {}
    variables = []
    for variable in world.design_space.variables:
        if variable.name in bounds:
            low, high = bounds[variable.name]
            variable = variable.model_copy(update={"lower": float(low), "upper": float(high), "unit": None})
        variables.append(variable)
    return world.design_space.model_copy(update={"variables": tuple(variables)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--designs", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    world = load_world(args.world)
    region = region_space(world)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{DATA_DIR / f'{world.name}-landscape.db'}")
    store.init()
    campaign = f"{world.name}-landscape"
    store.create_campaign(CampaignSpec(name=campaign, design_space=world.design_space,
                                       protocol=world.protocol, target=world.target,
                                       sources=tuple(world.sources), seed=0))
    store.register_source(world_source(world, "lab-cell").spec)
    designs = [world.design_space.validate_design(d.values)
               for d in region.sample_sobol(args.designs, seed=7)]
    keys = {f"{campaign}:{i}": i for i in range(args.designs)}
    done = store.result_ids_for_keys(keys)
    todo = [RunTask(task_id=k, source="lab-cell", design=designs[i], protocol=world.protocol, seed=1000 + i,
                    world=args.world) for k, i in keys.items() if k not in done]
    began = time.monotonic()
    with Progress() as progress, LocalExecutor(args.workers, failure_limit=None) as executor:
        bar = progress.add_task(f"lab-cell on the region ({len(done)} stored)", total=len(todo))
        for outcome in executor.map_unordered(todo):
            if outcome.result.failure_kind is not FailureKind.TRANSIENT:
                store.submit_result(outcome.result, idempotency_key=outcome.task.task_id, campaign=campaign)
            progress.advance(bar)
    rows = []
    for stored in store.list_results(campaign=campaign):
        result = stored.result
        retention = [o.value for o in result.observations if o.observable == RETENTION
                     and o.index == world.protocol.n_cycles]
        capacity = [o.value for o in result.observations if o.observable == CAPACITY and o.index == 1]
        rows.append({"status": result.status.value, "retention_end": retention[0] if retention else None,
                     "capacity_first": capacity[0] if capacity else None,
                     "cause": result.metadata.get("failure_cause"), "design": dict(result.design.values)})
    report = summarise(rows, world)
    report["wall_seconds"] = time.monotonic() - began
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "target_landscape.json").write_text(json.dumps(report, indent=1))
    plot(rows, args.out / "target_landscape.png")
    store.close()
    for line in report["lines"]:
        print(line)
    return 0


def summarise(rows: list[dict[str, Any]], world: World) -> dict[str, Any]:
    """Share of region cells meeting retention >= R (and capacity >= Q) on a grid."""
    n = len(rows)
    ok = [r for r in rows if r["status"] == "succeeded" and r["retention_end"] is not None]
    grid_r = [0.93, 0.94, 0.945, 0.95, 0.96, 0.97, 0.98, 0.99]
    grid_q = [0.0, 3.5, 4.0, 4.25, 4.5]
    table = {f"R>={r:g},Q>={q:g}": sum(1 for x in ok
                                       if x["retention_end"] >= r and (x["capacity_first"] or 0) >= q)
             / max(n, 1) for r in grid_r for q in grid_q}
    retentions = sorted((x["retention_end"] for x in ok), reverse=True)
    lines = [f"{n} region cells, {n - len(ok)} failed; "
             f"best retentions {', '.join(f'{v:.3f}' for v in retentions[:8])}"]
    for q in grid_q:
        lines.append(f"capacity >= {q:g} A.h: " + ", ".join(f"R {r:g}: {table[f'R>={r:g},Q>={q:g}']:.3f}"
                                                            for r in grid_r))
    return {"world": world.name, "n_cells": n, "failed": n - len(ok), "share_meeting": table, "cells": rows,
            "lines": lines}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Retention at the last cycle against first-cycle capacity of every region cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["retention_end"] is not None and r["capacity_first"] is not None]
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    colours = ["tab:blue" if r["status"] == "succeeded" else "tab:red" for r in ok]
    axis.scatter([r["capacity_first"] for r in ok], [r["retention_end"] for r in ok], c=colours, s=14)
    axis.set_xlabel("discharge capacity at cycle 1 [A.h]")
    axis.set_ylabel("retention at the last cycle")
    axis.set_title("Lab cells in the target's design region (red: failed)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
