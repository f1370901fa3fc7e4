"""What one store serves as the work queue: claims/s and results/s to 8 worker processes, and
the store-side time of one engine event with 1,000 queued requests, on SQLite and PostgreSQL.

1. *Throughput.* ``--workers`` spawned processes share one fresh store holding ``--requests``
   queued requests. They start together (a barrier, after imports and a first connection)
   and loop until the queue is empty, in two modes:

   - ``claim``: ``WorkQueue.claim`` only (each call first scans for lapsed leases);
   - ``cycle``: claim, one heartbeat, and ``WorkQueue.post`` of a result with
     ``--observations`` capacity values: a worker's whole conversation with the store.

   The rate is requests over the span from the first worker's start to the last one's end.
2. *Engine event.* A fresh store holds ``--queued`` queued requests, ``--held`` running ones
   and ``--done`` finished ones with their results. Each repeat times, one after another,
   what the engine reads on every event: ``WorkQueue.snapshot(campaign)``,
   ``WorkQueue.expire()``, ``store.list_requests(campaign)`` and
   ``store.list_results(campaign=...)``.

Medians over ``--repeats`` runs (throughput) and ``--event-repeats`` runs (reads). SQLite is
a file with WAL and ``synchronous=FULL``; PostgreSQL is a throwaway local cluster with
``fsync`` on (or the server of ``INTERPHASE_TEST_PG_URL``), as in ``store_throughput.py``.

Usage:
    python benchmarks/queue_throughput.py [--workers 8] [--requests 400] [--repeats 3]
        [--queued 1000] [--held 8] [--done 200] [--event-repeats 15] [--observations 100]

Writes ``benchmarks/results/queue_throughput.json`` and ``queue_throughput.png``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interphase.schema import RequestStatus, Result  # noqa: E402
from interphase.store import Store  # noqa: E402
from interphase.store.queue import WorkQueue  # noqa: E402
from support import factories  # noqa: E402
from support.pg_cluster import (  # noqa: E402
    PostgresUnavailableError,
    server_url,
    temporary_database,
)

RESULTS_DIR = ROOT / "benchmarks" / "results"
MODES = ("claim", "cycle")
READS = ("snapshot", "expire", "list_requests", "list_results")
N_DESIGNS = 20
CAMPAIGN = "queue-bench"
JOIN_TIMEOUT_S = 600.0


# ---------------------------------------------------------------------- filling a store

def seed_store(url: str) -> tuple[Store, factories.SeededCampaign]:
    """A fresh store at ``url`` with the campaign, its source and ``N_DESIGNS`` designs."""
    store = Store(url)
    store.init()
    return store, factories.seed_campaign(store, CAMPAIGN, n_designs=N_DESIGNS)


def queue_requests(store: Store, seeded: factories.SeededCampaign, n: int, start: int = 0) -> list[str]:
    """Queue ``n`` requests over the campaign's designs; their ids, oldest first."""
    return [store.create_request(factories.request(CAMPAIGN, seeded.design_ids[i % N_DESIGNS], key=f"req-{i}",
                                                   seed=i)).id for i in range(start, start + n)]


def result_for(design: Any, n_observations: int, seed: int) -> Result:
    """A succeeded result of the campaign's source for ``design``."""
    return factories.result(factories.source_spec(), design, n_observations=n_observations, seed=seed)


# ---------------------------------------------------------------------- throughput

def drain(url: str, worker: str, mode: str, n_observations: int, start: Any, answers: Any) -> None:
    """One worker process: claim (and, in ``cycle`` mode, heartbeat and post) until the queue is empty.

    Puts ``{"worker", "began_s", "ended_s", "claim_s": [...], "heartbeat_s": [...],
    "post_s": [...]}`` on ``answers``; times are ``time.monotonic()``, shared by every
    process on the host, and per-call latencies in seconds.
    """
    factories.protocol()  # loads PyBaMM's step parser, which reading a request needs, before timing
    store = Store(url)
    try:
        queue = WorkQueue(store)
        designs = {d.id: d.design for d in store.list_designs(CAMPAIGN)}  # also opens the connection
        results = {design_id: result_for(design, n_observations, seed=0)
                   for design_id, design in designs.items()}
        timings: dict[str, list[float]] = {"claim_s": [], "heartbeat_s": [], "post_s": []}
        start.wait(timeout=300)
        began = time.monotonic()
        while True:
            tick = time.monotonic()
            claims = queue.claim(worker)
            timings["claim_s"].append(time.monotonic() - tick)
            if not claims:
                break
            if mode == "cycle":
                (claim,) = claims
                tick = time.monotonic()
                queue.heartbeat(claim)
                timings["heartbeat_s"].append(time.monotonic() - tick)
                tick = time.monotonic()
                queue.post(claim, results[claim.request.design_id])
                timings["post_s"].append(time.monotonic() - tick)
        answers.put({"worker": worker, "began_s": began, "ended_s": time.monotonic(), **timings})
    finally:
        store.close()


def measure_throughput(url: str, mode: str, n_requests: int, n_workers: int,
                       n_observations: int) -> dict[str, Any]:
    """Drain ``n_requests`` with ``n_workers`` processes in ``mode``; the rate and per-call latencies."""
    store, seeded = seed_store(url)
    try:
        queue_requests(store, seeded, n_requests)
    finally:
        store.close()
    context = multiprocessing.get_context("spawn")
    start, answers = context.Barrier(n_workers), context.Queue()
    workers = [context.Process(target=drain, args=(url, f"worker-{i}", mode, n_observations, start, answers))
               for i in range(n_workers)]
    for worker in workers:
        worker.start()
    try:
        reports = [answers.get(timeout=JOIN_TIMEOUT_S) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
                worker.join()
    if any(worker.exitcode != 0 for worker in workers):
        raise RuntimeError(f"{mode}: a worker failed: {[w.exitcode for w in workers]}")
    elapsed_s = max(r["ended_s"] for r in reports) - min(r["began_s"] for r in reports)
    _check_drained(url, mode, n_requests)
    claims = [t for r in reports for t in r["claim_s"]]
    per_worker = sorted(len(r["claim_s"]) - 1 for r in reports)  # the last claim found nothing
    figures = {"elapsed_s": elapsed_s, "requests_per_s": n_requests / elapsed_s,
               "requests_per_worker": per_worker, "latency_ms": {"claim": _percentiles(claims)}}
    if mode == "cycle":
        for call in ("heartbeat", "post"):
            figures["latency_ms"][call] = _percentiles([t for r in reports for t in r[f"{call}_s"]])
    return figures


def _check_drained(url: str, mode: str, n_requests: int) -> None:
    """Every request claimed exactly once (``claim``) or done with one result (``cycle``)."""
    store = Store(url)
    try:
        requests = store.list_requests(CAMPAIGN)
        want = RequestStatus.CLAIMED if mode == "claim" else RequestStatus.DONE
        wrong = [r.id for r in requests if r.status is not want or r.attempts != 1]
        n_results = store.counts()["results"]
        problems = store.integrity_problems()
    finally:
        store.close()
    expected_results = n_requests if mode == "cycle" else 0
    if wrong or len(requests) != n_requests or n_results != expected_results or problems:
        raise RuntimeError(f"{mode}: store unsound after the run: {len(wrong)} requests not {want.value} "
                           f"once, {n_results} results, {problems}")


def _percentiles(seconds: list[float]) -> dict[str, float]:
    p95 = statistics.quantiles(seconds, n=20)[18] if len(seconds) > 1 else seconds[0]
    return {"p50": 1e3 * statistics.median(seconds), "p95": 1e3 * p95, "max": 1e3 * max(seconds),
            "calls": len(seconds)}


# ---------------------------------------------------------------------- engine event

def fill_for_event(url: str, n_queued: int, n_held: int, n_done: int, n_observations: int) -> Store:
    """A store with ``n_done`` finished requests (with results), ``n_held`` running, ``n_queued`` queued."""
    store, seeded = seed_store(url)
    queue = WorkQueue(store)
    queue_requests(store, seeded, n_done + n_held)
    for i in range(n_done):
        (claim,) = queue.claim("filler")
        queue.post(claim, result_for(seeded.designs[seeded.design_ids.index(claim.request.design_id)],
                                     n_observations, seed=i))
    for claim in queue.claim("runner", limit=n_held):
        queue.heartbeat(claim)
        queue.stream(claim, factories.observations(5))
    queue_requests(store, seeded, n_queued, start=n_done + n_held)
    return store


def measure_event(url: str, n_queued: int, n_held: int, n_done: int, n_observations: int,
                  repeats: int) -> dict[str, Any]:
    """Time each engine-event read ``repeats`` times on a filled store; medians and p95 in ms."""
    store = fill_for_event(url, n_queued, n_held, n_done, n_observations)
    try:
        queue = WorkQueue(store)
        reads: dict[str, Callable[[], Any]] = {
            "snapshot": lambda: queue.snapshot(CAMPAIGN),
            "expire": queue.expire,
            "list_requests": lambda: store.list_requests(CAMPAIGN),
            "list_results": lambda: store.list_results(campaign=CAMPAIGN),
        }
        sizes = {"snapshot": len(queue.snapshot(CAMPAIGN)), "expire": len(queue.expire()),
                 "list_requests": len(store.list_requests(CAMPAIGN)),
                 "list_results": len(store.list_results(campaign=CAMPAIGN))}  # also warms caches
        seconds: dict[str, list[float]] = {name: [] for name in reads}
        for _ in range(repeats):
            for name, read in reads.items():
                tick = time.perf_counter()
                read()
                seconds[name].append(time.perf_counter() - tick)
        server = _server_version(store)
    finally:
        store.close()
    expected = {"snapshot": n_queued + n_held, "expire": 0, "list_requests": n_queued + n_held + n_done,
                "list_results": n_done}
    if sizes != expected:
        raise RuntimeError(f"engine event: rows read {sizes}, expected {expected}")
    per_read = {name: {"median_ms": 1e3 * statistics.median(s), "p95_ms": _percentiles(s)["p95"],
                       "rows": sizes[name]} for name, s in seconds.items()}
    totals = [sum(seconds[name][i] for name in reads) for i in range(repeats)]
    return {"reads": per_read, "event_median_ms": 1e3 * statistics.median(totals), "server_version": server}


def _server_version(store: Store) -> str:
    from sqlalchemy import text

    query = "SELECT sqlite_version()" if store.backend == "sqlite" else "SHOW server_version"
    with store.engine.connect() as connection:
        return str(connection.execute(text(query)).scalar())


# ---------------------------------------------------------------------- running and reporting

def run_backend(fresh_url: Callable[[], Any], args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement on one back end; ``fresh_url()`` is a context manager yielding an empty database."""
    throughput: dict[str, Any] = {}
    for mode in MODES:
        runs = []
        for _ in range(args.repeats):
            with fresh_url() as url:
                runs.append(measure_throughput(url, mode, args.requests, args.workers, args.observations))
        rates = [r["requests_per_s"] for r in runs]
        middle = runs[rates.index(statistics.median_low(rates))]
        throughput[mode] = {"median_per_s": statistics.median(rates), "runs_per_s": rates,
                            "median_run": middle}
    with fresh_url() as url:
        event = measure_event(url, args.queued, args.held, args.done, args.observations, args.event_repeats)
    return {"claims_per_s": throughput["claim"]["median_per_s"],
            "results_per_s": throughput["cycle"]["median_per_s"], "throughput": throughput,
            "engine_event": event}


def _sqlite_urls() -> Callable[[], Any]:
    @contextmanager
    def fresh() -> Iterator[str]:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'queue.db'}"
    return fresh


def _postgres_urls(stack: ExitStack) -> Callable[[], Any]:
    server = server_url(stack)
    return lambda: temporary_database(server, prefix="interphase_queue_bench")


def print_table(measured: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """The figures as a rich table on standard output."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Work queue: {args.workers} worker processes, {args.requests} requests; "
                        f"engine event with {args.queued} queued, {args.held} running, {args.done} done "
                        f"(medians of {args.repeats} / {args.event_repeats})", title_justify="left")
    table.add_column("figure")
    for name in measured:
        table.add_column(name, justify="right")
    rows = [("claims/s (claim only)", lambda m: f"{m['claims_per_s']:,.0f}"),
            ("results/s (claim + heartbeat + post)", lambda m: f"{m['results_per_s']:,.0f}")]
    for call in ("claim", "heartbeat", "post"):
        rows.append((f"{call} p50 / p95 [ms] (cycle)", lambda m, c=call: "{p50:.1f} / {p95:.1f}".format(
            **m["throughput"]["cycle"]["median_run"]["latency_ms"][c])))
    for read in READS:
        rows.append((f"{read} [ms]", lambda m, r=read: f"{m['engine_event']['reads'][r]['median_ms']:.1f}"))
    rows.append(("engine event, all four reads [ms]",
                 lambda m: f"{m['engine_event']['event_median_ms']:.1f}"))
    for label, cell in rows:
        table.add_row(label, *(cell(m) for m in measured.values()))
    Console(markup=False, highlight=False).print(table)


def plot(measured: dict[str, dict[str, Any]], args: argparse.Namespace, path: Path) -> None:
    """Left: claims/s and results/s by back end. Right: each engine-event read, ms, by back end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(measured)
    colours = ["#4C72B0", "#DD8452"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    x = np.arange(2)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        rates = [measured[name]["claims_per_s"], measured[name]["results_per_s"]]
        bars = left.bar(x + i * width, rates, width, label=name, color=colours[i % 2])
        left.bar_label(bars, labels=[f"{r:,.0f}" for r in rates], padding=2, fontsize=8)
    left.set_xticks(x + width * (len(names) - 1) / 2,
                    ["claims/s\n(claim only)", "results/s\n(claim + heartbeat + post)"])
    left.set_ylabel("Requests per second")
    left.set_title(f"{args.workers} worker processes on {os.cpu_count()} CPUs, {args.requests} requests",
                   fontsize=9)
    left.legend(fontsize=8)
    x = np.arange(len(READS) + 1)
    for i, name in enumerate(names):
        event = measured[name]["engine_event"]
        times = [event["reads"][r]["median_ms"] for r in READS] + [event["event_median_ms"]]
        bars = right.bar(x + i * width, times, width, label=name, color=colours[i % 2])
        right.bar_label(bars, labels=[f"{t:.0f}" for t in times], padding=2, fontsize=8)
    right.set_xticks(x + width * (len(names) - 1) / 2, [*READS, "all four"], fontsize=8)
    right.set_ylabel("Median time per engine event [ms]")
    right.set_title(f"{args.queued} queued, {args.held} running, {args.done} done "
                    f"({args.observations} observations each)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="worker processes")
    parser.add_argument("--requests", type=int, default=400, help="requests drained per throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per mode and back end")
    parser.add_argument("--queued", type=int, default=1000, help="queued requests for the engine event")
    parser.add_argument("--held", type=int, default=8, help="running requests for the engine event")
    parser.add_argument("--done", type=int, default=200, help="finished requests for the engine event")
    parser.add_argument("--event-repeats", type=int, default=15, help="timed engine events")
    parser.add_argument("--observations", type=int, default=100, help="observations per result")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    measured: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    load_before = os.getloadavg()  # the machine may be shared: say how busy it was
    with ExitStack() as stack:
        for backend in args.backends:
            try:
                fresh = _sqlite_urls() if backend == "sqlite" else _postgres_urls(stack)
            except PostgresUnavailableError as exc:
                skipped[backend] = str(exc)
                continue
            measured[backend] = run_backend(fresh, args)

    if not measured:
        print(f"queue_throughput: nothing measured ({skipped})", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "queue_throughput",
        "config": {"workers": args.workers, "requests": args.requests, "repeats": args.repeats,
                   "engine_event": {"queued": args.queued, "held": args.held, "done": args.done,
                                    "repeats": args.event_repeats},
                   "observations_per_result": args.observations,
                   "modes": {"claim": "WorkQueue.claim only", "cycle": "claim, one heartbeat, post"},
                   "sqlite": "file, WAL, synchronous=FULL",
                   "postgresql": "local cluster over TCP, fsync on, READ COMMITTED"},
        "results": measured,
        "skipped": skipped,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
                    "python": platform.python_version(), "sqlalchemy": version("sqlalchemy"),
                    "psycopg": version("psycopg")},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    (args.out / "queue_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(measured, args, args.out / "queue_throughput.png")
    print_table(measured, args)
    print("queue_throughput: " + "; ".join(
        f"{name} {m['claims_per_s']:,.0f} claims/s, {m['results_per_s']:,.0f} results/s, "
        f"engine event {m['engine_event']['event_median_ms']:.0f} ms" for name, m in measured.items())
        + f" [{args.workers} workers, {args.requests} requests; event with {args.queued} queued, "
          f"{args.done} done]" + (f"; skipped {', '.join(skipped)}" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
