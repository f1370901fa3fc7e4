"""The discovery benchmark: every strategy on one world, over seeds, on the event clock.

Each (strategy, seed) is one campaign ``<world>-<strategy>-s<seed>`` in one SQLite store per
world; campaigns already finished are read back, unfinished ones resumed, so the harness can
be stopped and started again and runs in the background across sessions. Discovery time is
the simulated hour at which a design is verified on the highest-fidelity source (the same
replicate rule for every strategy); a campaign that spends its budget without a verified design
counts as not discovered (its time is the budget's end, and it is reported as censored).

A campaign that raises (a strategy's bug, a numerical failure) does not stop the others: it
becomes a row with ``status`` ``"failed"`` and its ``error`` (type and message), the summary
counts and lists it apart from the campaigns that ran, and the next start runs it again.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interphase.schema import parse_model
from interphase.schema.plain import plain_json
from interphase.schema.run_config import RunConfig

STRATEGIES = ("trial-and-error", "gp-qlogei", "mf-gp", "interphase")
FAILED = "failed"
"""The ``status`` of a row whose campaign raised instead of ending."""
MAX_ERROR_CHARS = 500
# The multi-fidelity GP would simulate without end (a simulation is 1e5 times cheaper per hour than
# a cell test); 48 simulations is what the interphase agent may run too.
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {"mf-gp": {"max_simulations": 48},
                                               "interphase": {"max_simulations": 48}}


@dataclass(frozen=True)
class BenchJob:
    """One campaign of the benchmark.

    Attributes:
        world: World name or path.
        strategy: Strategy name.
        seed: Campaign seed.
        db: SQLite path of the world's store.
        budget_lab_hours: Lab channel hours the campaign may spend.
        agent: Strategy settings.
        wall_hours: Real hours the campaign may run (None: no limit).
    """

    world: str
    strategy: str
    seed: int
    db: str
    budget_lab_hours: float
    agent: dict[str, Any]
    wall_hours: float | None = None

    def config(self) -> RunConfig:
        """The campaign's run configuration.

        Raises:
            InvalidInputError: Naming the field, for a value it does not take.
        """
        budget: dict[str, float] = {"lab_hours": self.budget_lab_hours}
        if self.wall_hours is not None:
            budget["wall_hours"] = self.wall_hours
        return parse_model(RunConfig, {"name": self.campaign, "world": self.world, "strategy": self.strategy,
                                       "seed": self.seed, "agent": self.agent, "budget": budget})

    @property
    def campaign(self) -> str:
        """The campaign's name."""
        return f"{Path(self.world).stem}-{self.strategy}-s{self.seed}"


def code_version() -> str:
    """The git commit of the interphase source that runs (``+dirty`` with uncommitted changes).

    Each benchmark row carries it, so that rows measured with an older agent or model can be
    told apart from current ones when the figures accumulate across sessions. Outside a git
    checkout it is the installed package's version.
    """
    import subprocess

    import interphase

    here = Path(interphase.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True,
                               text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"interphase {interphase.__version__}"
    return commit + ("+dirty" if dirty else "")


def run_job(job: BenchJob) -> dict[str, Any]:
    """Run (or resume, or read back) one campaign; return its figures, or its failure as a row.

    Any exception of the campaign becomes a :func:`failed_row`, so that one campaign's error
    does not cost the others their runs (an interrupt still stops the harness).
    """
    import os

    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    began = time.monotonic()
    try:
        return _run_job(job, began)
    except Exception as exc:  # noqa: BLE001 - the harness records every failure of a campaign as its row
        return failed_row(job, exc, time.monotonic() - began)


def _run_job(job: BenchJob, began: float) -> dict[str, Any]:
    from interphase.agent.campaign import resume_campaign, run_campaign
    from interphase.agent.plan import resolve
    from interphase.store import Store

    store = Store(f"sqlite:///{job.db}")
    try:
        store.init()
        existing = {c.name for c in store.list_campaigns()}
        if job.campaign in existing:
            outcome = resume_campaign(store, job.campaign)
        else:
            outcome = run_campaign(store, resolve(job.config()))
        return figures(store, job, outcome, time.monotonic() - began)
    finally:
        store.close()


def failed_row(job: BenchJob, error: BaseException, wall_seconds: float) -> dict[str, Any]:
    """The row of a campaign that raised: ``status`` :data:`FAILED` and ``error`` ``{"type", "message"}``.

    It has none of a finished campaign's figures (discovery time, costs, curve): readers
    take :func:`finished_rows` for those.
    """
    message = " ".join(str(error).split()) or type(error).__name__
    return {"strategy": job.strategy, "seed": job.seed, "campaign": job.campaign, "code": code_version(),
            "settings": job.agent, "status": FAILED, "verified": False, "discovery_h": None,
            "wall_seconds": wall_seconds,
            "error": {"type": type(error).__name__, "message": message[:MAX_ERROR_CHARS]}}


def finished_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of campaigns that ended (verified or not), without those that failed."""
    return [row for row in rows if row.get("status") != FAILED]


def failure_text(row: dict[str, Any]) -> str:
    """``"Type: message"`` of a failed row."""
    error = row.get("error") or {}
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"


def figures(store: Any, job: BenchJob, outcome: Any, wall_seconds: float) -> dict[str, Any]:
    """What the benchmark keeps of one campaign (from its outcome and its decisions)."""
    decisions = store.list_decisions(job.campaign)
    launches = [d for d in decisions if d.chosen.get("kind") in ("launch", "replicate")]
    finished = [d for d in decisions if d.chosen.get("kind") == "finished"]
    curve = best_objective_curve(store, job.campaign)
    thinking = [float(d.chosen["decide_seconds"]) for d in launches if "decide_seconds" in d.chosen]
    return {"strategy": job.strategy, "seed": job.seed, "campaign": job.campaign, "code": code_version(),
            "settings": job.agent, "status": outcome.status,
            "verified": outcome.discovery_h is not None, "discovery_h": outcome.discovery_h,
            "end_h": outcome.clock_h, "runs": outcome.runs, "by_source": outcome.by_source,
            "lab_hours": outcome.spent["lab_hours"], "cpu_hours": outcome.spent["cpu_hours"],
            "decisions": len(launches), "wall_seconds": finished[-1].chosen["spent"]["wall_seconds"]
            if finished else wall_seconds, "verified_design": outcome.verified_design, "curve": curve,
            "decide_seconds": {"median": float(np.median(thinking)), "p90": float(np.quantile(thinking, 0.9)),
                               "max": max(thinking)} if thinking else None,
            "launch_calibration": launch_calibration(store, job.campaign)}


def launch_calibration(store: Any, campaign: str) -> dict[str, Any] | None:
    """How well a strategy's P(meet) at launch foretold its highest-fidelity tests.

    Each launched test on the highest-fidelity source whose decision recorded a ``p_meet`` is
    paired with its outcome: a hit when it ran to the horizon and met the target; a miss when
    it fell short, was stopped (the strategy judged it a miss) or failed for a cause of the
    design. Assembly defects and tests without a result yet are left out; so are replicates:
    the verification rule launches most, and an early replicate's forecast is for a second cell
    of a design already under test, not a new pick. The first round (launches at the
    first launch's hour) is kept apart: it shows how the strategy forecasts the lab before it
    has seen a cell.

    Returns:
        :func:`calibration_scores` of every pair, ``"first_round"``: those of the first round,
        and ``"pairs"``: ``[clock_h, p_meet, hit]`` each; None when no launch recorded a ``p_meet``.
    """
    from interphase.agent.verification import ASSEMBLY_DEFECT

    fidelity = {s.spec.name: s.spec.fidelity for s in store.list_sources()}
    outcomes = {stored.request_id: stored.result for stored in store.list_results(campaign=campaign)}
    pairs: list[tuple[float, float, bool]] = []
    launches = [d.chosen for d in store.list_decisions(campaign) if d.chosen.get("kind") == "launch"]
    used = {run["source"] for chosen in launches for run in chosen.get("runs", [])}
    if not used:
        return None
    highest = max(used, key=lambda name: (fidelity.get(name, 0), name))
    for chosen in launches:
        for run in chosen.get("runs", []):
            p_meet = next((float(entry["p_meet"]) for entry in (run.get("predicted") or {}).values()
                           if isinstance(entry, dict) and entry.get("p_meet") is not None), None)
            result = outcomes.get(run.get("request_id"))
            if run["source"] != highest or p_meet is None or result is None or run.get("replicate_of"):
                continue
            if result.metadata.get("failure_cause") == ASSEMBLY_DEFECT:
                continue
            hit = result.status.value == "succeeded" and bool(result.metadata.get("meets_target"))
            pairs.append((float(chosen.get("clock_h", 0.0)), p_meet, hit))
    if not pairs:
        return None
    return {**calibration_scores(pairs), "first_round": calibration_scores(first_round(pairs)),
            "pairs": [list(c) for c in pairs]}


def first_round(pairs: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """The ``[clock_h, p_meet, hit]`` pairs of one campaign launched at its first launch's hour."""
    first = min(float(c[0]) for c in pairs)
    return [c for c in pairs if float(c[0]) == first]


def calibration_scores(pairs: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """``tests``, ``mean_p_meet``, ``hit_rate`` and ``brier`` of ``[clock_h, p_meet, hit]`` pairs."""
    p = np.array([float(c[1]) for c in pairs])
    y = np.array([bool(c[2]) for c in pairs], dtype=float)
    return {"tests": len(pairs), "mean_p_meet": float(p.mean()), "hit_rate": float(y.mean()),
            "brier": float(np.mean((p - y) ** 2))}


def best_objective_curve(store: Any, campaign: str) -> list[tuple[float, float]]:
    """``(finished hour, best objective so far)`` over full-length highest-fidelity runs of a campaign."""
    rows = []
    spec = store.get_campaign(campaign).spec
    target = spec.target
    objective = target.objectives[0] if target.objectives else None
    name = objective.observable if objective else target.bounds[0].observable
    index = (objective.at_index if objective else target.bounds[0].at_index) or spec.protocol.n_cycles
    sign = -1.0 if objective is not None and objective.direction == "minimize" else 1.0
    for stored in store.list_results(campaign=campaign):
        result = stored.result
        if "meets_target" not in result.metadata:
            continue
        values = [o.value for o in result.observations
                  if o.observable == name and math.isclose(o.index, index)]
        if values:
            rows.append((float(result.metadata["campaign_clock"]["finished_h"]), sign * values[-1]))
    rows.sort()
    curve, best = [], -math.inf
    for hour, value in rows:
        best = max(best, value)
        curve.append((hour, sign * best))
    return curve


def run_jobs(jobs: Sequence[BenchJob], workers: int,
             on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run jobs in ``workers`` processes (spawned: each builds its own sources and store)."""
    results = []
    if workers <= 1:
        for job in jobs:
            results.append(run_job(job))
            if on_result is not None:
                on_result(results[-1])
        return results
    from interphase.store import Store

    for db in sorted({job.db for job in jobs}):  # schema first: workers that meet on a new file race
        store = Store(f"sqlite:///{db}")
        try:
            store.init()
        finally:
            store.close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, maxtasksperchild=1) as pool:
        for result in pool.imap_unordered(run_job, jobs):
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def quantile(values: np.ndarray, q: float) -> float:
    """The ``q`` quantile (linear between order statistics) of values that may be infinite.

    NumPy's interpolation subtracts neighbours and gives NaN between two infinities; here a
    quantile that reaches an infinite neighbour is infinite. NaN for no values.
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    if not len(ordered):
        return math.nan
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    weight = position - low
    if weight == 0.0 or math.isinf(ordered[high]):  # sorted: an infinite low has an infinite high
        return float(ordered[high] if weight else ordered[low])
    return float(ordered[low] + weight * (ordered[high] - ordered[low]))


def discovery_floor_h(world: str, n_designs: int = 1024) -> float:
    """The earliest hour any strategy could verify a design: the shortest full-length test.

    Verification needs a full-length test on the highest-fidelity source, so no campaign can
    end before the shortest such test of the target's region does, even if its first pick is
    a hit and its replicates run beside it. BENCHMARKS.md's "ceiling": a strategy's median
    over this floor is about the most any strategy could gain on it. The hours are the
    highest-fidelity source's planned ones (``estimate_cost``); a real cell may cycle faster
    than planned (``benchmarks/lab_hours.py`` measures by how much), so the true floor can lie
    somewhat lower.

    Args:
        world: World name or YAML path (its own target and protocol).
        n_designs: Sobol designs of the target region searched for the shortest test.

    Returns:
        Lab hours (formation included) of the shortest planned test among them.
    """
    from interphase.agent.plan import resolve
    from interphase.agent.region import TargetRegion

    plan = resolve(RunConfig(name="discovery-floor", world=world, strategy="trial-and-error"))
    source = plan.sources[plan.highest_fidelity]
    region = TargetRegion.of(plan.world.design_space, plan.spec.target)
    designs = region.from_region(region.sobol(n_designs, seed=0))
    return min(float(source.estimate_cost(design, plan.world.protocol).lab_hours) for design in designs)


def summarise(rows: Sequence[dict[str, Any]], reference: str = "interphase",
              floor_h: float | None = None) -> dict[str, Any]:
    """Per strategy: median and IQR of discovery time, seeds verified, and the acceleration.

    A campaign without a verified design counts as never finding one (an infinite time), so a
    median over seeds is finite only when at least half found one. The acceleration of
    ``reference`` against each strategy is that strategy's median over the reference's; with
    ``floor_h`` (:func:`discovery_floor_h`), each strategy's ``ceiling`` is its median over the
    floor: the acceleration no strategy could exceed against it. A campaign that failed
    (:data:`FAILED`) is no seed of these figures: ``failed`` counts them and ``failures`` lists
    each (``seed``, ``campaign``, ``error``).
    """
    by: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault(row["strategy"], []).append(row)
    out: dict[str, Any] = {}
    for strategy, every in sorted(by.items()):
        runs = finished_rows(every)
        failed = [row for row in every if row.get("status") == FAILED]
        out[strategy] = _figures_of(runs, floor_h) if runs else {"seeds": 0, "verified": 0}
        if failed:
            out[strategy]["failed"] = len(failed)
            out[strategy]["failures"] = [{"seed": row["seed"], "campaign": row.get("campaign"),
                                          "error": failure_text(row)} for row in failed]
    if reference in out and out[reference].get("median_h") is not None:
        ours = out[reference]["median_h"]
        for strategy, entry in out.items():
            if strategy != reference and entry.get("median_h") is not None:
                entry["acceleration"] = entry["median_h"] / ours if ours and math.isfinite(ours) else math.nan
    return out


def _figures_of(runs: Sequence[dict[str, Any]], floor_h: float | None) -> dict[str, Any]:
    """:func:`summarise`'s entry of one strategy's finished campaigns (at least one)."""
    times = np.array([r["discovery_h"] if r["verified"] else math.inf for r in runs], dtype=float)
    finite = times[np.isfinite(times)]
    median, q25, q75 = (quantile(times, q) for q in (0.5, 0.25, 0.75))
    entry = {"seeds": len(runs), "verified": int(len(finite)), "median_h": median, "q25_h": q25,
             "q75_h": q75, "mean_lab_hours": float(np.mean([r["lab_hours"] for r in runs])),
             "mean_cpu_hours": float(np.mean([r["cpu_hours"] for r in runs])),
             "mean_wall_seconds": float(np.mean([r["wall_seconds"] for r in runs])),
             "mean_runs": float(np.mean([r["runs"] for r in runs])),
             "max_decide_seconds": max((r["decide_seconds"]["max"] for r in runs
                                        if r.get("decide_seconds")), default=None)}
    if floor_h:
        entry["ceiling"] = median / floor_h
    calibrated = [r["launch_calibration"] for r in runs if r.get("launch_calibration")]
    if calibrated:
        first = calibration_scores([pair for c in calibrated for pair in first_round(c["pairs"])])
        entry["launches"] = {
            **calibration_scores([pair for c in calibrated for pair in c["pairs"]]),
            "first_round_mean_p_meet": first["mean_p_meet"], "first_round_hit_rate": first["hit_rate"]}
    return entry


def strategy_settings(given: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Each strategy's benchmark settings: :data:`DEFAULT_SETTINGS`, updated key by key by ``given``.

    A variant's settings (``--agent '{"replicate_misses": "first-launch"}'``) add to the
    defaults the ledger's rows ran with; they do not replace them.
    """
    given = given or {}
    return {name: {**DEFAULT_SETTINGS.get(name, {}), **given.get(name, {})}
            for name in {*DEFAULT_SETTINGS, *given}}


def run_benchmark(world: str, *, seeds: int, strategies: Sequence[str] = STRATEGIES, first_seed: int = 0,
                  workers: int = 2, budget_lab_hours: float = 200_000.0, db: Path, json_path: Path,
                  settings: dict[str, dict[str, Any]] | None = None, wall_hours: float | None = None,
                  on_result: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every (strategy, seed) not yet in ``json_path`` (or failed there), appending each as it finishes.

    Several harnesses may share one ``json_path`` (e.g. the baselines in one process and
    interphase in another, each with its own store): every append re-reads the file under an
    exclusive lock and adds its row to what is there, so none drops another's rows. Each
    strategy's configuration is checked (:func:`check_jobs`) before anything runs or is written.

    Args:
        world: World name or YAML path.
        seeds: Seeds per strategy.
        strategies: Strategy names.
        first_seed: The first seed.
        workers: Campaigns at once (processes).
        budget_lab_hours: Each campaign's lab budget.
        db: The store of the campaigns (SQLite path).
        json_path: Where the figures are kept (read back on start).
        settings: Strategy -> settings, on top of :data:`DEFAULT_SETTINGS` (:func:`strategy_settings`).
        wall_hours: Each campaign's real-time limit (None: none); a campaign that reaches it
            ends with status ``"wall"``, not verified.
        on_result: Called with each campaign's figures (or failure) as it finishes.

    Returns:
        ``{"world", "budget_lab_hours", "floor_h", "summary", "runs"}`` as written to
        ``json_path``.

    Raises:
        InvalidInputError: If a strategy's configuration cannot run (naming the option), or
            the rows already in ``json_path`` ran with other settings than ``settings`` give.
    """
    import json

    from interphase.agent.bench_config import check_jobs, check_settings_match

    settings = strategy_settings(settings)
    name = Path(world).stem
    rows = read_rows(json_path)
    every = [BenchJob(world=world, strategy=s, seed=seed, db=str(db), budget_lab_hours=budget_lab_hours,
                      agent=settings.get(s, {}), wall_hours=wall_hours)
             for seed in range(first_seed, first_seed + seeds) for s in strategies]
    check_jobs(every)
    check_settings_match(every, rows, json_path)
    floor_h = discovery_floor_h(world)
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    jobs = [job for job in every
            if (job.strategy, job.seed) not in rows or rows[(job.strategy, job.seed)].get("status") == FAILED]

    def write(new: dict[str, Any] | None = None) -> dict[str, Any]:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(json_path.with_name(json_path.name + ".lock")):
            rows.update(read_rows(json_path))
            if new is not None:
                rows[(new["strategy"], new["seed"])] = new
            ordered = sorted(rows.values(), key=lambda r: (r["strategy"], r["seed"]))
            report = {"world": name, "budget_lab_hours": budget_lab_hours, "floor_h": floor_h,
                      "summary": plain_json(summarise(ordered, floor_h=floor_h)), "runs": plain_json(ordered)}
            partial = json_path.with_name(json_path.name + ".partial")
            partial.write_text(json.dumps(report, indent=1))
            partial.replace(json_path)
        return report

    def keep(row: dict[str, Any]) -> None:
        write(row)
        if on_result is not None:
            on_result(row)

    run_jobs(jobs, workers, on_result=keep)
    return write()


def read_rows(json_path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The rows of a benchmark JSON by ``(strategy, seed)``; empty when there is no file yet."""
    import json

    if not json_path.exists():
        return {}
    return {(r["strategy"], r["seed"]): r for r in json.loads(json_path.read_text()).get("runs", [])}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing) while the block runs."""
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def summary_lines(summary: dict[str, Any], floor_h: float | None = None) -> list[str]:
    """One line per strategy: median discovery (IQR), seeds verified, interphase's acceleration.

    With ``floor_h``, a first line gives the floor and each strategy's line its median over it
    (its ``ceiling``: the most any strategy could gain on it). A strategy's failed campaigns are
    counted on its line and follow it, one indented line each with its error.
    """
    lines = [f"floor: {_h(floor_h)} h, the shortest full-length test of the target region as the lab's cost "
             f"model plans it; a strategy at 'Nx the floor' is at most about N times slower than any could "
             f"be (a test can take less than planned: benchmarks/lab_hours.py)"] if floor_h else []
    for strategy, entry in summary.items():
        median = entry.get("median_h")
        shown = f"{_h(median)} h" if median is not None else "none (fewer than half verified)"
        iqr = (f" (IQR {_h(entry['q25_h'])}-{_h(entry['q75_h'])})"
               if entry.get("q25_h") is not None and entry.get("q75_h") is not None else "")
        accel = entry.get("acceleration")
        faster = f", interphase {accel:.1f}x faster" if accel is not None else ""
        slowest = entry.get("max_decide_seconds")
        thinking = f", slowest decision {slowest:.1f} s" if slowest is not None else ""
        ceiling = entry.get("ceiling")
        floor = f", {ceiling:.1f}x the floor" if ceiling is not None else ""
        launches = entry.get("launches")
        calibration = (f", {launches['tests']} lab launches at mean P(meet) {launches['mean_p_meet']:.2f} "
                       f"hit {launches['hit_rate']:.2f} (first round "
                       f"{launches['first_round_mean_p_meet']:.2f} vs {launches['first_round_hit_rate']:.2f})"
                       if launches else "")
        failed = f", {entry['failed']} failed" if entry.get("failed") else ""
        if not entry.get("seeds"):
            lines.append(f"{strategy}: no campaign ended{failed}")
        else:
            lines.append(f"{strategy}: median discovery {shown}{iqr}, verified {entry['verified']}/"
                         f"{entry['seeds']}{failed}{faster}{floor}{thinking}{calibration}")
        lines += [f"  {failure.get('campaign') or 'seed ' + str(failure['seed'])} failed: {failure['error']}"
                  for failure in entry.get("failures", [])]
    return lines


def _h(hours: float) -> str:
    """Hours for a summary line: whole hours from 1000 h, else four significant digits (0.5, 2.25, 501.6)."""
    return f"{hours:.0f}" if abs(hours) >= 1000 else f"{hours:.4g}"
