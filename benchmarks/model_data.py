"""The data of issue 4's acceptance: Sobol designs of a world run on its sources, into a SQLite store.

``--designs`` Sobol designs (seed 0) join the campaign ``<world>-model-data``. Then, over the
world's full horizon with seed = design index: ``lab-cell`` on the first ``--lab`` designs,
``pybamm-spm`` on the first ``--spm`` and ``pybamm-dfn`` on the first ``--dfn`` (cheapest
first), through ``LocalExecutor``. Each result is stored as it arrives, under the
idempotency key ``<campaign>:<source>:<design index>:<seed>``; keys already stored are
skipped, so the script is safe to kill and run again. Transient failures (a crashed or
timed-out worker, after the executor's retries) are not stored, so a rerun tries them again.

The data takes about an hour of wall time on 2 workers to make (sei-life: DFN 2305 s, SPM
957 s, lab about 10 min), on machines that are not kept from one session to the next, so a
lossless Parquet copy of it is committed under ``benchmarks/snapshots/<world>-model/``
(``--write-snapshot`` writes it; 3.6 MB for sei-life). A new,
empty store first imports that copy (idempotency keys included), so the runs it holds are
skipped and only missing ones are run; ``--no-restore`` makes everything anew.

Usage:
    python benchmarks/model_data.py [--world sei-life] [--db PATH] [--designs 300] [--spm 300]
        [--dfn 60] [--lab 40] [--only spm,lab] [--workers 2] [--timeout 1800] [--out DIR]
        [--no-restore] [--write-snapshot]

Prints and writes ``model_data.json`` under ``benchmarks/results/`` (or ``--out``): results
in the store per source and status, their CPU seconds and lab hours, and this run's work.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from interphase.execution import LocalExecutor, RunTask
from interphase.schema import CampaignSpec, FailureKind
from interphase.sources import world_source
from interphase.sources.world import World, load_world
from interphase.store import Store
from interphase.store.io.parquet import export_parquet, import_parquet
from interphase.store.tables import CampaignRow, ResultRow, SourceRow

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
DATA_DIR = ROOT / "benchmarks" / "data"
SNAPSHOT_DIR = ROOT / "benchmarks" / "snapshots"
SOURCES = {"lab": "lab-cell", "spm": "pybamm-spm", "dfn": "pybamm-dfn"}  # cheapest first


def campaign_name(world: World) -> str:
    """The campaign the data belongs to: ``<world>-model-data``."""
    return f"{world.name}-model-data"


def run_key(campaign: str, source: str, design_index: int, seed: int) -> str:
    """Idempotency key of one run."""
    return f"{campaign}:{source}:{design_index}:{seed}"


def prepare(store: Store, world: World, n_designs: int) -> list[Any]:
    """Create the campaign (same spec every time) and add the Sobol designs; returns the designs."""
    spec = CampaignSpec(name=campaign_name(world), description=f"Issue 4 model data for {world.name}",
                        design_space=world.design_space, protocol=world.protocol, target=world.target,
                        sources=tuple(world.sources), seed=0)
    store.create_campaign(spec)
    designs = world.design_space.sample_sobol(n_designs, seed=0)
    store.add_designs(spec.name, designs)
    return designs


def snapshot_dir(world: World) -> Path:
    """Where the committed Parquet copy of a world's model data lives."""
    return SNAPSHOT_DIR / f"{world.name}-model"


def restore(store: Store, world: World) -> int:
    """Import the committed snapshot into a store that has no campaign yet; returns results imported."""
    source = snapshot_dir(world)
    if not (source / "results.parquet").exists() or store.list_campaigns():
        return 0
    imported = import_parquet(store, source)
    print(f"restored {imported} records from {source.relative_to(ROOT)}")
    return imported


def run_source(store: Store, executor: LocalExecutor, world_ref: str, world: World, source: str,
               designs: list[Any], n: int) -> dict[str, Any]:
    """Run ``source`` on the first ``n`` designs not already stored; store each result as it arrives."""
    campaign = campaign_name(world)
    store.register_source(world_source(world, source).spec)
    keys = {run_key(campaign, source, i, i): i for i in range(n)}
    done = store.result_ids_for_keys(keys)
    todo = [RunTask(task_id=key, source=source, design=designs[i], protocol=world.protocol, seed=i,
                    world=world_ref) for key, i in keys.items() if key not in done]
    summary: dict[str, Any] = {"requested": n, "already_stored": len(done), "ran": len(todo), "stored": 0,
                               "transient_not_stored": 0, "wall_seconds": 0.0}
    if not todo:
        print(f"{source}: all {n} runs already stored")
        return summary
    began = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        bar = progress.add_task(f"{source} ({len(done)} stored before)", total=len(todo))
        for outcome in executor.map_unordered(todo):
            if outcome.result.failure_kind is FailureKind.TRANSIENT:
                summary["transient_not_stored"] += 1
            else:
                store.submit_result(outcome.result, idempotency_key=outcome.task.task_id, campaign=campaign)
                summary["stored"] += 1
            progress.advance(bar)
    summary["wall_seconds"] = time.monotonic() - began
    return summary


def stored_counts(store: Store, campaign: str) -> dict[str, Any]:
    """Per source: results by status, total CPU seconds and lab hours, from the store itself."""
    query = (select(SourceRow.name, ResultRow.status, func.count(), func.sum(ResultRow.cost_cpu_seconds),
                    func.sum(ResultRow.cost_lab_hours))
             .join(SourceRow, ResultRow.source_id == SourceRow.id)
             .join(CampaignRow, ResultRow.campaign_id == CampaignRow.id)
             .where(CampaignRow.name == campaign).group_by(SourceRow.name, ResultRow.status))
    out: dict[str, Any] = {}
    with store.engine.connect() as connection:
        for source, status, count, cpu, hours in connection.execute(query):
            entry = out.setdefault(source, {"results": 0, "by_status": {}, "cpu_seconds": 0.0,
                                            "lab_hours": 0.0})
            entry["results"] += count
            entry["by_status"][status] = count
            entry["cpu_seconds"] += float(cpu or 0.0)
            entry["lab_hours"] += float(hours or 0.0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="sei-life")
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file (default benchmarks/data/<world>-model.db)")
    parser.add_argument("--designs", type=int, default=300)
    parser.add_argument("--spm", type=int, default=300)
    parser.add_argument("--dfn", type=int, default=60)
    parser.add_argument("--lab", type=int, default=40)
    parser.add_argument("--only", default=None, help="comma-separated subset of lab,spm,dfn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run; 0 for none")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-restore", action="store_true",
                        help="do not import the committed snapshot into a new store")
    parser.add_argument("--write-snapshot", action="store_true",
                        help="write the store's campaign to the committed snapshot folder")
    args = parser.parse_args(argv)
    only = list(SOURCES) if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SOURCES]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; expected a subset of {','.join(SOURCES)}")
    wanted = {short: getattr(args, short) for short in SOURCES if short in only}
    if any(n < 0 for n in wanted.values()) or args.designs < max([1, *wanted.values()]):
        parser.error(f"--designs ({args.designs}) must be >= 1 and >= every run count {wanted}")
    # A plain kill (SIGTERM) unwinds like Ctrl-C, so the executor stops its workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    world = load_world(args.world)
    path = args.db or DATA_DIR / f"{world.name}-model.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{path}")
    store.init()
    began = time.monotonic()
    restored = 0 if args.no_restore else restore(store, world)
    designs = prepare(store, world, args.designs)
    # One executor for every source: its workers (and the sources they built) persist.
    with LocalExecutor(args.workers, failure_limit=None, timeout_s=args.timeout or None) as executor:
        runs = {SOURCES[short]: run_source(store, executor, args.world, world, SOURCES[short], designs, n)
                for short, n in wanted.items() if n > 0}
    report = {"world": world.name, "db": str(path), "campaign": campaign_name(world),
              "horizon": world.protocol.n_cycles, "designs": args.designs, "workers": args.workers,
              "wall_seconds": time.monotonic() - began, "restored": restored, "this_run": runs,
              "stored": stored_counts(store, campaign_name(world))}
    if args.write_snapshot:
        written = export_parquet(store, snapshot_dir(world), campaign=campaign_name(world))
        size = sum(p.stat().st_size for p in written)
        where = snapshot_dir(world).relative_to(ROOT)
        print(f"snapshot: {len(written)} files, {size / 1e6:.1f} MB in {where}")
    store.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_data.json").write_text(json.dumps(report, indent=1))
    print(summarise(report))
    return 0


def summarise(report: dict[str, Any]) -> str:
    lines = [f"{report['campaign']} in {report['db']}: {report['designs']} designs, "
             f"{report['horizon']} cycles, wall {report['wall_seconds']:.0f} s"]
    for source, entry in sorted(report["stored"].items()):
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(entry["by_status"].items()))
        lines.append(f"  {source}: {entry['results']} stored ({statuses}); CPU {entry['cpu_seconds']:.0f} s, "
                     f"lab {entry['lab_hours']:.0f} h")
    for source, run in report["this_run"].items():
        lines.append(f"  this run, {source}: ran {run['ran']} ({run['already_stored']} stored before), "
                     f"{run['transient_not_stored']} transient failures not stored, "
                     f"{run['wall_seconds']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
