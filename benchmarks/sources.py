"""Speed, overhead, caching and memory of the PyBaMM cell sources (and, on request, the landscape).

Measured on the ``sei-life`` world's centre design (the middle of its unit cube):

* seconds per cycle of each fidelity, from a warm run (the simulation already built);
* overhead of ``PyBaMMCellSource.run`` over a bare ``pybamm.Simulation.solve`` of the same
  model, experiment, inputs and solver settings, in process CPU time: end to end (minimum
  and median of interleaved repeats, which run-to-run noise of several percent limits), and
  as the CPU time a run spends outside ``Simulation.solve`` (the wrapper's own cost); the
  two retention curves are also compared;
* caching gain: a cold run (empty simulation cache: build, discretise, compile, solve)
  against a warm one of the same design and cycles;
* peak memory (``VmHWM``) of one DFN run over the whole horizon, in a fresh process.

``--landscape`` adds Sobol designs of the world on SPM and SPMe at the full horizon:
retention range, failure fraction, plating, and the fraction meeting the world's target.

``--target-designs N`` runs N SPMe designs inside the target's design bounds and estimates
the fraction of the whole space that meets the target.

Usage:
    python benchmarks/sources.py [--landscape] [--spm-designs 16] [--spme-designs 8] [--target-designs 32]
    python benchmarks/sources.py --replot     # redraw the PNG and summary from the JSON

Writes ``benchmarks/results/sources.json`` and ``sources.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from interphase.schema import Design, DesignSpace, ResultStatus  # noqa: E402
from interphase.sources.pybamm_cell import PyBaMMCellSource, SimulationCache  # noqa: E402
from interphase.sources.world import World, load_world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
SOURCES = ("pybamm-spm", "pybamm-spme", "pybamm-dfn")
RETENTION = "Capacity retention"
MEMORY_LIMIT_MB = 2048.0
SHORT_CYCLES = 10  # an early-stopped or screening run, where building dominates


def centre_design(world: World) -> Design:
    """The middle of the unit cube (log-scaled variables at their geometric mean)."""
    return world.design_space.from_unit_cube(np.full((1, world.design_space.dim), 0.5))[0]


def retention_of(result: Any) -> np.ndarray:
    return np.array([o.value for o in result.observations if o.observable == RETENTION])


def bare_simulation(source: PyBaMMCellSource, design: Design, n_cycles: int) -> tuple[Any, dict[str, float]]:
    """The same model, parameters, cycle and solver as ``source``, written with PyBaMM alone.

    The world's cycle is CC charge, CV hold, rest, CC discharge, rest (see ``sei-life.yaml``).
    """
    import pybamm

    from interphase.sources.pybamm_cell.observables import solver_output_variables

    config, values = source.config, design.values
    parameters = pybamm.ParameterValues(config.parameter_set)
    temperature = pybamm.InputParameter("T")
    parameters.update({**config.parameters, "Ambient temperature [K]": temperature,
                       "Initial temperature [K]": temperature})
    parameter_names = list(source.roles.parameters)
    parameters.update({name: "[input]" for name in parameter_names})
    charge_rate, discharge_rate = pybamm.InputParameter("Ich"), pybamm.InputParameter("Idis")
    cutoff = pybamm.InputParameter("Vmax")
    floors = dict(source.roles.rate_floors)
    cycle = (
        pybamm.step.c_rate(-charge_rate, duration=7200 / floors["Charge C-rate"], direction="charge",
                           termination=[pybamm.step.VoltageTermination(cutoff, operator=">")]),
        pybamm.step.voltage(cutoff, termination=[pybamm.step.CRateTermination(1 / 20)]),
        pybamm.step.string("Rest for 10 minutes"),
        pybamm.step.c_rate(discharge_rate, duration=7200 / floors["Discharge C-rate"], direction="discharge",
                           termination=[pybamm.step.VoltageTermination(2.5, operator="<")]),
        pybamm.step.string("Rest for 10 minutes"),
    )
    model = getattr(pybamm.lithium_ion, config.model)(dict(config.options))
    solver = pybamm.IDAKLUSolver(rtol=config.rtol, atol=config.atol,
                                 output_variables=solver_output_variables(config.has_plating))
    simulation = pybamm.Simulation(model, experiment=pybamm.Experiment([cycle] * n_cycles),
                                   parameter_values=parameters, solver=solver)
    inputs = {"T": values["Ambient temperature [K]"], "Ich": values["Charge C-rate"],
              "Idis": values["Discharge C-rate"], "Vmax": values["Charge cut-off voltage [V]"]}
    inputs.update({name: float(values[name]) for name in parameter_names})
    return simulation, inputs


def bare_retention(solution: Any) -> np.ndarray:
    capacity = np.array([c.steps[3]["Discharge capacity [A.h]"].entries[-1]
                         - c.steps[3]["Discharge capacity [A.h]"].entries[0] for c in solution.cycles])
    return capacity / capacity[1]


def measure_speed(world: World, name: str, n_cycles: int, colds: int = 1, warms: int = 2) -> dict[str, Any]:
    """Cold runs (each with an empty cache) and warm runs of the centre design, minimum CPU time of each.

    Returns:
        Setup cost (cold minus warm), seconds per cycle (warm) and the caching gain (cold / warm).
    """
    design = centre_design(world)
    protocol = world.protocol.model_copy(update={"n_cycles": n_cycles})
    cold, warm = [], []
    for attempt in range(colds):
        source = PyBaMMCellSource(world, name, cache=SimulationCache())
        for run in range(1 + (warms if attempt == 0 else 0)):
            began = time.process_time()
            result = source.run(design, protocol, seed=0)
            (warm if run else cold).append(time.process_time() - began)
            if result.status is not ResultStatus.SUCCEEDED:
                raise RuntimeError(f"{name}: {result.message}")
    cold_cpu, warm_cpu = min(cold), min(warm)
    return {"cycles": n_cycles, "cold_cpu_s": cold_cpu, "warm_cpu_s": warm_cpu, "cold_runs_cpu_s": cold,
            "warm_runs_cpu_s": warm, "seconds_per_cycle": warm_cpu / n_cycles, "setup_s": cold_cpu - warm_cpu,
            "caching_gain": cold_cpu / warm_cpu, "final_retention": float(retention_of(result)[-1])}


def measure_overhead(world: World, name: str, n_cycles: int, repeats: int) -> dict[str, Any]:
    """CPU time of ``source.run`` against a bare solve of the same simulation, both warm."""
    source = PyBaMMCellSource(world, name, cache=SimulationCache())
    design = centre_design(world)
    protocol = world.protocol.model_copy(update={"n_cycles": n_cycles})
    if n_cycles > source.config.chunk_cycles:
        raise ValueError(f"{name}: measure overhead within one chunk ({source.config.chunk_cycles} cycles)")
    simulation, inputs = bare_simulation(source, design, n_cycles)
    result = source.run(design, protocol, seed=0)  # build both before timing
    solution = simulation.solve(inputs=inputs, calc_esoh=False)
    difference = float(np.max(np.abs(retention_of(result) - bare_retention(solution))))
    source_s, bare_s = [], []
    for _ in range(repeats):
        began = time.process_time()
        source.run(design, protocol, seed=0)
        source_s.append(time.process_time() - began)
        began = time.process_time()
        simulation.solve(inputs=inputs, calc_esoh=False)
        bare_s.append(time.process_time() - began)
    wrapper = wrapper_share(source, design, protocol, repeats)
    return {"cycles": n_cycles, "repeats": repeats, "source_cpu_s": source_s, "bare_cpu_s": bare_s,
            "overhead_min": min(source_s) / min(bare_s) - 1.0,
            "overhead_median": statistics.median(source_s) / statistics.median(bare_s) - 1.0,
            **wrapper, "max_abs_retention_difference": difference}


def wrapper_share(source: PyBaMMCellSource, design: Design, protocol: Any, repeats: int) -> dict[str, float]:
    """CPU time a run spends outside ``pybamm.Simulation.solve``, over the time inside it.

    This is the wrapper's own cost (validation, experiment plan, reading cycles, building
    observations and provenance), free of the run-to-run noise of whole solves.
    """
    import pybamm

    original = pybamm.Simulation.solve
    inside = [0.0]

    def timed_solve(self: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            inside[0] += time.process_time() - began

    shares, outside = [], []
    pybamm.Simulation.solve = timed_solve
    try:
        for _ in range(repeats):
            inside[0] = 0.0
            began = time.process_time()
            source.run(design, protocol, seed=0)
            total = time.process_time() - began
            outside.append(total - inside[0])
            shares.append((total - inside[0]) / inside[0])
    finally:
        pybamm.Simulation.solve = original
    return {"wrapper_cpu_s": statistics.median(outside), "wrapper_share": statistics.median(shares)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    Linux's ``VmHWM`` starts afresh at ``exec``; ``ru_maxrss`` does not (a child started from a
    large parent reports the parent's peak), so it is only the fallback.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dfn_memory_child(n_cycles: int) -> None:
    """Run one DFN design over ``n_cycles`` in this fresh process and print its figures as JSON."""
    world = load_world("sei-life")
    source = PyBaMMCellSource(world, "pybamm-dfn", cache=SimulationCache())
    before_mb = peak_rss_mb()
    protocol = world.protocol.model_copy(update={"n_cycles": n_cycles})
    began_cpu, began_wall = time.process_time(), time.perf_counter()
    result = source.run(centre_design(world), protocol, seed=0)
    print(json.dumps({
        "cycles": n_cycles, "chunk_cycles": source.config.chunk_cycles, "status": result.status.value,
        "message": result.message, "cycles_run": result.cycles_run,
        "cpu_s": time.process_time() - began_cpu, "wall_s": time.perf_counter() - began_wall,
        "rss_before_run_mb": before_mb,
        "peak_rss_mb": peak_rss_mb(),
        "final_retention": float(retention_of(result)[-1]) if result.observations else None,
    }))


def measure_dfn_memory(n_cycles: int) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, __file__, "--dfn-memory-child", str(n_cycles)],
                               capture_output=True, text=True, check=True, cwd=ROOT)
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    figures["limit_mb"] = MEMORY_LIMIT_MB
    return figures


def landscape(world: World, name: str, n_designs: int, seed: int) -> dict[str, Any]:
    """Sobol designs at the full horizon: retention at the last cycle, failures, plating."""
    source = PyBaMMCellSource(world, name)
    rows = []
    for design in world.design_space.sample_sobol(n_designs, seed):
        began = time.process_time()
        result = source.run(design, world.protocol, seed=0)
        values: dict[str, list[float]] = {}
        for observation in result.observations:
            values.setdefault(observation.observable, []).append(observation.value)
        rows.append({"design": design.values, "status": result.status.value, "cycles_run": result.cycles_run,
                     "message": result.message, "cpu_s": time.process_time() - began,
                     "final_retention": values.get(RETENTION, [None])[-1]
                     if result.status is ResultStatus.SUCCEEDED else None,
                     "peak_plating_m": max(values.get("Lithium plating thickness [m]", [0.0]))})
    done = [r["final_retention"] for r in rows if r["final_retention"] is not None]
    return {"source": name, "designs": n_designs, "seed": seed, "cycles": world.protocol.n_cycles,
            "failed": sum(r["status"] == "failed" for r in rows),
            "failure_fraction": sum(r["status"] == "failed" for r in rows) / n_designs,
            "retention_min": min(done, default=None), "retention_max": max(done, default=None),
            "meets_target": sum(_meets_target(world, r) for r in rows), "runs": rows}


def target_sample(world: World, name: str, n_designs: int, seed: int) -> dict[str, Any]:
    """How much of the space meets the world's target, sampled where the target's design bounds allow.

    The fraction of the whole space is the fraction met inside the bounded region times that
    region's share of the unit cube.
    """
    if world.target is None:
        raise ValueError(f"world {world.name!r} has no target")
    variables, share = [], 1.0
    for variable in world.design_space.variables:
        if variable.name in world.target.design_bounds:
            low, high = world.target.design_bounds[variable.name]
            share *= variable.to_unit(high) - variable.to_unit(low)
            variable = variable.model_copy(update={"lower": low, "upper": high})
        variables.append(variable)
    region = world.model_copy(update={"design_space": DesignSpace(variables=tuple(variables))})
    scape = landscape(region, name, n_designs, seed)
    met = scape["meets_target"] / n_designs
    done = sorted(r["final_retention"] for r in scape["runs"] if r["final_retention"] is not None)
    return {**scape, "region_share": share, "fraction_met_in_region": met, "fraction_of_space": met * share,
            "region_retention_quantiles": {q: float(np.quantile(done, q)) for q in (0.5, 0.9, 0.95)}
            if done else {}}


def _meets_target(world: World, row: dict[str, Any]) -> bool:
    if world.target is None or row["final_retention"] is None:
        return False
    for bound in world.target.bounds:
        if bound.observable == RETENTION and bound.lower is not None and row["final_retention"] < bound.lower:
            return False
    for variable, (low, high) in world.target.design_bounds.items():
        if not low <= row["design"][variable] <= high:
            return False
    return True


def plot(report: dict[str, Any], path: Path) -> None:
    """Four panels: cost per cycle, overhead, caching, DFN memory (and the landscape if run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed, overhead, memory = report["speed"], report["overhead"], report["dfn_memory"]
    rows = 3 if report.get("landscape") else 2
    figure, axes = plt.subplots(rows, 2, figsize=(10, 3.6 * rows), dpi=110)
    names = list(speed)
    colours = ["#4C72B0", "#DD8452", "#55A868"]
    per_cycle = [speed[n]["seconds_per_cycle"] for n in names]
    bars = axes[0, 0].bar(names, per_cycle, color=colours)
    axes[0, 0].bar_label(bars, labels=[f"{v:.3f}" for v in per_cycle], padding=2)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel("CPU seconds per cycle (warm)")
    axes[0, 0].set_title("Cost per cycle, centre design", fontsize=10)
    x = np.arange(len(overhead))
    width = 0.38
    end_to_end = [100 * overhead[n]["overhead_min"] for n in overhead]
    wrapper = [100 * overhead[n]["wrapper_share"] for n in overhead]
    bars = axes[0, 1].bar(x - width / 2, end_to_end, width, label="run vs bare solve (min of repeats)")
    axes[0, 1].bar_label(bars, labels=[f"{v:+.1f}" for v in end_to_end], padding=2, fontsize=8)
    bars = axes[0, 1].bar(x + width / 2, wrapper, width, label="time outside solve")
    axes[0, 1].bar_label(bars, labels=[f"{v:.2f}" for v in wrapper], padding=2, fontsize=8)
    axes[0, 1].set_xticks(x, list(overhead))
    axes[0, 1].axhline(5, color="red", linestyle="--", label="5 % target")
    axes[0, 1].set_ylabel("Overhead (%)")
    axes[0, 1].set_title("Source overhead over a bare PyBaMM solve (CPU)", fontsize=10)
    axes[0, 1].legend(fontsize=8)
    x = np.arange(len(names))
    axes[1, 0].bar(x - width / 2, [speed[n]["cold_cpu_s"] for n in names], width, label="cold: build + solve")
    axes[1, 0].bar(x + width / 2, [speed[n]["warm_cpu_s"] for n in names], width, label="warm: cached")
    axes[1, 0].set_xticks(x, [f"{n}\n{speed[n]['cycles']} cycles" for n in names])
    axes[1, 0].set_ylabel("CPU seconds per run")
    short = report["caching_gain_short_runs"]
    axes[1, 0].set_title("Caching gain: " + ", ".join(f"{speed[n]['caching_gain']:.2f}x" for n in names)
                         + f"\n(at {short['cycles']} cycles: "
                         + ", ".join(f"{short[n]:.1f}x" for n in names) + ")", fontsize=10)
    axes[1, 0].legend(fontsize=8)
    axes[1, 1].bar(["DFN run"], [memory["peak_rss_mb"]], color=colours[2])
    axes[1, 1].axhline(memory["limit_mb"], color="red", linestyle="--", label="2 GB limit")
    axes[1, 1].set_ylabel("Peak RSS (MB)")
    axes[1, 1].set_title(f"DFN, {memory['cycles']} cycles in chunks of {memory['chunk_cycles']}: "
                         f"{memory['peak_rss_mb']:.0f} MB", fontsize=10)
    axes[1, 1].legend(fontsize=8)
    if report.get("landscape"):
        for axis, scape in zip(axes[2], report["landscape"].values(), strict=False):
            runs = [r for r in scape["runs"] if r["final_retention"] is not None]
            temperature = [r["design"]["Ambient temperature [K]"] - 273.15 for r in runs]
            points = axis.scatter(temperature, [r["final_retention"] for r in runs],
                                  c=[r["design"]["Charge C-rate"] for r in runs], cmap="viridis")
            figure.colorbar(points, ax=axis, label="Charge C-rate")
            axis.set_xlabel("Ambient temperature (°C)")
            axis.set_ylabel(f"Retention at cycle {scape['cycles']}")
            axis.set_title(f"{scape['source']}: {len(runs)}/{scape['designs']} solved", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def summarise(report: dict[str, Any]) -> str:
    """The one-line summary of a report."""
    speed, overhead, memory = report["speed"], report["overhead"], report["dfn_memory"]
    short = {name: name.removeprefix("pybamm-") for name in SOURCES}
    caching = report["caching_gain_short_runs"]
    summary = (
        "sources: s/cycle " + ", ".join(f"{short[n]} {s['seconds_per_cycle']:.3f}" for n, s in speed.items())
        + f" (DFN over {report['horizon_cycles']}: {memory['seconds_per_cycle']:.3f}); overhead "
        + ", ".join(f"{short[n]} {100 * o['wrapper_share']:.2f}% outside solve "
                    f"({100 * o['overhead_min']:+.1f}% end to end)" for n, o in overhead.items())
        + "; caching " + ", ".join(f"{short[n]} {s['caching_gain']:.2f}x" for n, s in speed.items())
        + f" (at {caching['cycles']} cycles: "
        + ", ".join(f"{short[n]} {caching[n]:.1f}x" for n in speed) + ")"
        + f"; DFN peak RSS {memory['peak_rss_mb']:.0f} MB over {memory['cycles']} cycles")
    if "landscape" in report:
        summary += "; " + ", ".join(
            f"{s['source']} retention {s['retention_min']:.3f}-{s['retention_max']:.3f}, "
            f"failed {s['failed']}/{s['designs']}" for s in report["landscape"].values())
    if "target" in report:
        found = report["target"]
        summary += (f"; target met by {100 * found['fraction_of_space']:.1f}% of the space "
                    f"({found['meets_target']}/{found['designs']} in its bounds, SPMe)")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and write the JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dfn-cycles", type=int, default=SHORT_CYCLES,
                        help="cycles of the in-process DFN timing")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the overhead timing")
    parser.add_argument("--landscape", action="store_true", help="also sample the world on SPM and SPMe")
    parser.add_argument("--spm-designs", type=int, default=16)
    parser.add_argument("--spme-designs", type=int, default=8)
    parser.add_argument("--target-designs", type=int, default=0,
                        help="SPMe designs inside the target's design bounds (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from the JSON, measure nothing")
    parser.add_argument("--dfn-memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dfn_memory_child:
        dfn_memory_child(args.dfn_memory_child)
        return 0
    if args.replot:
        report = json.loads((args.out / "sources.json").read_text())
        plot(report, args.out / "sources.png")
        print(summarise(report))
        return 0

    world = load_world("sei-life")
    horizon = world.protocol.n_cycles
    speed = {"pybamm-spm": measure_speed(world, "pybamm-spm", horizon),
             "pybamm-spme": measure_speed(world, "pybamm-spme", horizon),
             "pybamm-dfn": measure_speed(world, "pybamm-dfn", args.dfn_cycles, colds=2, warms=3)}
    overhead = {"pybamm-spm": measure_overhead(world, "pybamm-spm", horizon, args.repeats),
                "pybamm-spme": measure_overhead(world, "pybamm-spme", 50, args.repeats),
                "pybamm-dfn": measure_overhead(world, "pybamm-dfn", 5, max(2, args.repeats - 1))}
    short_runs = {name: measure_speed(world, name, SHORT_CYCLES, colds=2, warms=3) for name in SOURCES[:2]}
    short_runs["pybamm-dfn"] = (speed["pybamm-dfn"] if args.dfn_cycles == SHORT_CYCLES
                                else measure_speed(world, "pybamm-dfn", SHORT_CYCLES, colds=2, warms=3))
    caching_short = {name: run["caching_gain"] for name, run in short_runs.items()}
    memory = measure_dfn_memory(horizon)
    memory["seconds_per_cycle"] = (memory["cpu_s"] - speed["pybamm-dfn"]["setup_s"]) / horizon
    report: dict[str, Any] = {
        "benchmark": "sources", "world": world.name, "horizon_cycles": horizon,
        "design": centre_design(world).values, "speed": speed, "overhead": overhead, "dfn_memory": memory,
        "caching_gain_short_runs": {"cycles": SHORT_CYCLES, **caching_short},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "pybamm": version("pybamm")},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if args.landscape:
        report["landscape"] = {"pybamm-spm": landscape(world, "pybamm-spm", args.spm_designs, args.seed),
                               "pybamm-spme": landscape(world, "pybamm-spme", args.spme_designs, args.seed)}
    if args.target_designs:
        report["target"] = target_sample(world, "pybamm-spme", args.target_designs, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sources.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "sources.png")
    print(summarise(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
