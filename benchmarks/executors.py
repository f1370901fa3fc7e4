"""Executor throughput: serial vs the local pool with 1 and 2 workers, and Local vs Ray.

1. CPU-bound runs (``test-analytic-cell``: pure-Python Euler steps, about 0.4 s each;
   or any registered source with ``--source``, e.g. ``pybamm-spm``) run serially in
   this process, then through ``LocalExecutor`` with 1 and 2 workers.
   Start-up (spawning workers, importing, building the source) is timed apart from
   the batches, because the workers persist across batches; the best of ``--repeats``
   batches is kept, since the machine is shared.
2. The same 20-run batch goes through ``LocalExecutor`` and ``RayExecutor`` (a local Ray
   instance, 2 CPUs); the results must be identical, provenance and cost included.

Usage:
    python benchmarks/executors.py [--runs 8] [--substeps 250000] [--repeats 2] [--no-ray]
    python benchmarks/executors.py --source pybamm-spm --runs 6 --cycles 100 --repeats 1 --out DIR

Writes ``benchmarks/results/executors.json`` and ``executors.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interphase.execution import (  # noqa: E402
    Executor,
    LocalExecutor,
    RayExecutor,
    RunTask,
    available_cpus,
)
from interphase.schema import Result, ResultStatus  # noqa: E402
from interphase.sources import get_source, run_safely  # noqa: E402
from support.sources_for_tests import (  # noqa: E402
    CELL,
    cell_design,
    cell_protocol,
    register_test_sources,
)

RESULTS_DIR = ROOT / "benchmarks" / "results"
N_CYCLES = 50
BATCH_RUNS = 20


def cpu_bound_tasks(source_name: str, n: int, substeps: int, cycles: int | None) -> list[RunTask]:
    """``n`` CPU-bound runs of ``source_name``.

    The test cell spends about ``substeps x cycles x 35 ns`` per run. Any other source
    runs Sobol designs of its own space under its default protocol (``cycles`` cycles
    if given).
    """
    if source_name == CELL:
        return [RunTask(task_id=f"cpu-{i}", source=CELL, seed=i, protocol=cell_protocol(cycles or N_CYCLES),
                        design=cell_design(temperature_k=290.0 + i, substeps=substeps)) for i in range(n)]
    source = get_source(source_name)
    protocol = source.default_protocol
    if protocol is None:
        raise SystemExit(f"source {source_name!r} has no default protocol to benchmark with")
    if cycles is not None:
        protocol = protocol.model_copy(update={"n_cycles": cycles})
    return [RunTask(task_id=f"cpu-{i}", source=source_name, seed=i, protocol=protocol, design=design)
            for i, design in enumerate(source.design_space.sample_sobol(n, seed=0))]


def batch_tasks() -> list[RunTask]:
    """The 20-run batch of the Local-vs-Ray comparison (light runs, seeds 1000..1019)."""
    return [RunTask(task_id=f"run-{i}", source=CELL, seed=1000 + i, protocol=cell_protocol(100),
                    design=cell_design(temperature_k=285.0 + 1.5 * i, c_rate=0.5 + 0.1 * i, substeps=2000))
            for i in range(BATCH_RUNS)]


def run_serial(tasks: list[RunTask], repeats: int) -> dict[str, Any]:
    """Run in this process, one after the other: the baseline (best of ``repeats``)."""
    source = get_source(tasks[0].source)
    run_safely(source, tasks[0].design, tasks[0].protocol, 0)  # provenance caches, imports
    times_s = []
    for _ in range(repeats):
        began = time.perf_counter()
        results = [run_safely(source, t.design, t.protocol, t.seed) for t in tasks]
        times_s.append(time.perf_counter() - began)
        assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    return {"startup_s": 0.0, "batch_s": min(times_s), "batch_s_all": times_s,
            "runs_per_s": len(tasks) / min(times_s)}


def run_executor(executor: Executor, tasks: list[RunTask], workers: int,
                 repeats: int = 1) -> tuple[dict[str, Any], dict[str, Result]]:
    """Start and warm ``executor``, then time ``repeats`` batches on the same persistent workers.

    Returns:
        Timings of the best batch, with the executor's own overhead per run (batch time
        minus the runs' wall time in the workers, divided by the workers and the runs),
        and the last batch's results by task id.
    """
    with executor:
        began = time.perf_counter()
        executor.start()
        # One untimed run per worker, as the serial baseline has: first-solve costs
        # (solver set-up, caches) are start-up, paid once per persistent worker.
        list(executor.map_unordered(tasks[:workers]))
        startup_s = time.perf_counter() - began
        times_s, overheads_s = [], []
        for _ in range(repeats):
            began = time.perf_counter()
            outcomes = list(executor.map_unordered(tasks))
            times_s.append(time.perf_counter() - began)
            workers = len({o.worker_id for o in outcomes})
            overheads_s.append((times_s[-1] - sum(o.wall_s for o in outcomes) / workers) / len(tasks))
    results = {o.task.task_id: o.result for o in outcomes}
    failed = [k for k, r in results.items() if r.status is not ResultStatus.SUCCEEDED]
    if failed:
        raise RuntimeError(f"runs failed: {failed}")
    best = times_s.index(min(times_s))
    return {"startup_s": startup_s, "batch_s": times_s[best], "batch_s_all": times_s,
            "runs_per_s": len(tasks) / times_s[best],
            "overhead_ms_per_run": 1e3 * overheads_s[best]}, results


def plot(report: dict[str, Any], path: Path) -> None:
    """Runs per second for the CPU-bound batch; batch time for Local vs Ray."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120)
    throughput = report["throughput"]
    names = list(throughput)
    rates = [throughput[n]["runs_per_s"] for n in names]
    bars = left.bar(names, rates, color=["#8C8C8C", "#4C72B0", "#55A868"][: len(names)])
    left.bar_label(bars, labels=[f"{r:.2f}" for r in rates], padding=3)
    left.set_ylabel("CPU-bound runs per second")
    config = report["config"]
    left.set_title(f"{config['source']}: {config['cpu_runs']} runs x ~{config['cpu_seconds_per_run']:.2f} s "
                   f"({report['machine']['cpus']} CPUs)", fontsize=9)
    left.set_ylim(0, max(rates) * 1.25)
    comparison = report["local_vs_ray"]
    if comparison:
        labels = [n for n in ("local", "ray") if n in comparison]
        times = [comparison[n]["batch_s"] for n in labels]
        starts = [comparison[n]["startup_s"] for n in labels]
        right.bar(labels, times, color=["#4C72B0", "#DD8452"][: len(labels)], label="batch")
        right.bar(labels, starts, bottom=times, color="#CCCCCC", label="start-up (once)")
        right.set_ylabel("Seconds")
        same = "identical" if comparison.get("identical_results") else "DIFFERENT"
        right.set_title(f"{BATCH_RUNS}-run batch, 2 workers: results {same}", fontsize=9)
        right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="CPU-bound runs per configuration")
    parser.add_argument("--substeps", type=int, default=250_000, help="Euler steps per cycle (test cell)")
    parser.add_argument("--source", default=CELL, help="source for the throughput part, e.g. pybamm-spm")
    parser.add_argument("--cycles", type=int, default=None, help="cycles per run (default: 50 for the "
                        "test cell, the source's default protocol otherwise)")
    parser.add_argument("--repeats", type=int, default=2, help="batches per configuration (best kept)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Local vs Ray comparison")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    setup = partial(register_test_sources)
    register_test_sources()  # the serial baseline looks sources up here too

    load_before = os.getloadavg()[0]
    tasks = cpu_bound_tasks(args.source, args.runs, args.substeps, args.cycles)
    throughput = {"serial": run_serial(tasks, args.repeats)}
    for workers in (1, 2):
        executor = LocalExecutor(workers, worker_setup=setup, warm_up=(args.source,))
        timings, _ = run_executor(executor, tasks, workers, args.repeats)
        throughput[f"local-{workers}"] = timings
    serial_s = throughput["serial"]["batch_s"]
    for timings in throughput.values():
        timings["speedup_vs_serial"] = serial_s / timings["batch_s"]

    comparison: dict[str, Any] = {}
    if not args.no_ray:
        batch = batch_tasks()
        comparison["local"], local = run_executor(LocalExecutor(2, worker_setup=setup), batch, 2)
        comparison["ray"], ray = run_executor(RayExecutor(num_cpus=2, worker_setup=setup), batch, 2)
        comparison["identical_results"] = all(local[t.task_id] == ray[t.task_id] for t in batch)
        comparison["identical_observations"] = all(
            local[t.task_id].observations == ray[t.task_id].observations for t in batch)

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "executors",
        "config": {"source": args.source, "cpu_runs": args.runs, "cycles": tasks[0].protocol.n_cycles,
                   "substeps_per_cycle": args.substeps if args.source == CELL else None,
                   "repeats": args.repeats, "kept": "best batch of the repeats",
                   "cpu_seconds_per_run": throughput["serial"]["batch_s"] / args.runs,
                   "batch_runs": BATCH_RUNS, "batch_source": CELL,
                   "timing": "start-up (spawn, import, set-up, source build) apart from the batch"},
        "throughput": throughput,
        "local_vs_ray": comparison,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "affinity_cpus": available_cpus(), "python": platform.python_version(),
                    # Shared machine: another job on a core caps the 2-worker speed-up.
                    "load_average_1min_before": load_before,
                    "load_average_1min_after": os.getloadavg()[0],
                    "ray": _version("ray")},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    (args.out / "executors.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "executors.png")
    summary = (f"executors [{args.source}]: serial {throughput['serial']['runs_per_s']:.2f} runs/s, "
               f"local-1 {throughput['local-1']['runs_per_s']:.2f} "
               f"({throughput['local-1']['speedup_vs_serial']:.2f}x, "
               f"{throughput['local-1']['overhead_ms_per_run']:.1f} ms/run overhead), "
               f"local-2 {throughput['local-2']['runs_per_s']:.2f} "
               f"({throughput['local-2']['speedup_vs_serial']:.2f}x) "
               f"[{args.runs} runs x {report['config']['cpu_seconds_per_run']:.2f} s, "
               f"load {load_before:.1f} before]")
    if comparison:
        summary += (f"; {BATCH_RUNS}-run batch local {comparison['local']['batch_s']:.2f} s "
                    f"(+{comparison['local']['startup_s']:.1f} s start-up), ray "
                    f"{comparison['ray']['batch_s']:.2f} s (+{comparison['ray']['startup_s']:.1f} s), "
                    f"results {'identical' if comparison['identical_results'] else 'DIFFERENT'}")
    print(summary)
    return 0 if not comparison or comparison["identical_results"] else 1


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
