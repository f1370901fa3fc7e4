"""Insert throughput of the store, in observations per second, on SQLite and PostgreSQL.

Each result goes through ``Store.submit_result``: one transaction per result with
all its observations, then the read-back the method returns. SQLite is a file with
WAL and ``synchronous=FULL``; PostgreSQL is a throwaway local cluster with ``fsync``
on (or the server of ``INTERPHASE_TEST_PG_URL``), so both pay for durable commits.

Usage:
    python benchmarks/store_throughput.py [--results 200] [--observations 300]

Writes ``benchmarks/results/store_throughput.json`` and ``store_throughput.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interphase.schema import Result  # noqa: E402
from interphase.store import Store  # noqa: E402
from interphase.store.engine import resolve_url  # noqa: E402
from support import factories  # noqa: E402
from support.pg_cluster import (  # noqa: E402
    PostgresUnavailableError,
    start_cluster,
    temporary_database,
)

RESULTS_DIR = ROOT / "benchmarks" / "results"
WARMUP_RESULTS = 5


def build_results(n_results: int, n_observations: int, offset: int = 0) -> list[Result]:
    """Results with ``n_observations`` capacity values each, built before timing starts."""
    source = factories.source_spec()
    return [factories.result(source, factories.design(i % 50), n_observations=n_observations,
                             seed=offset + i) for i in range(n_results)]


def measure(url: str, n_results: int, n_observations: int) -> dict[str, Any]:
    """Submit ``n_results`` results to a fresh store at ``url`` and time each submit.

    Returns:
        Throughput (observations/s, results/s) and per-result latency percentiles in ms.
    """
    store = Store(url)
    try:
        store.init()
        store.register_source(factories.source_spec())
        for i, result in enumerate(build_results(WARMUP_RESULTS, n_observations, offset=10**6)):
            store.submit_result(result, idempotency_key=f"warmup-{i}")
        timed = build_results(n_results, n_observations)
        latencies_s = []
        began = time.perf_counter()
        for i, result in enumerate(timed):
            start = time.perf_counter()
            store.submit_result(result, idempotency_key=f"bench-{i}")
            latencies_s.append(time.perf_counter() - start)
        elapsed_s = time.perf_counter() - began
        problems = store.integrity_problems()
        stored = store.counts()["observations"]
        server = _server_version(store)
    finally:
        store.close()
    expected = (n_results + WARMUP_RESULTS) * n_observations
    if problems or stored != expected:
        raise RuntimeError(f"store unsound after the run: {problems}, {stored} != {expected}")
    cuts = statistics.quantiles(latencies_s, n=20)
    return {
        "observations_per_s": n_results * n_observations / elapsed_s,
        "results_per_s": n_results / elapsed_s,
        "elapsed_s": elapsed_s,
        "latency_ms": {"p50": 1e3 * statistics.median(latencies_s), "p95": 1e3 * cuts[18],
                       "max": 1e3 * max(latencies_s)},
        "server_version": server,
    }


def _server_version(store: Store) -> str:
    from sqlalchemy import text

    query = "SELECT sqlite_version()" if store.backend == "sqlite" else "SHOW server_version"
    with store.engine.connect() as connection:
        return str(connection.execute(text(query)).scalar())


def plot(results: dict[str, dict[str, Any]], config: dict[str, Any], path: Path) -> None:
    """Bar chart of observations per second by back end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    rates = [results[n]["observations_per_s"] for n in names]
    figure, axes = plt.subplots(figsize=(5, 3.5), dpi=120)
    bars = axes.bar(names, rates, color=["#4C72B0", "#DD8452"][: len(names)])
    axes.bar_label(bars, labels=[f"{r:,.0f}" for r in rates], padding=3)
    axes.set_ylabel("Observations per second")
    axes.set_title(f"submit_result: {config['results']} results x "
                   f"{config['observations_per_result']} observations,\n"
                   "one transaction per result, durable commits", fontsize=9)
    axes.set_ylim(0, max(rates) * 1.2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=200, help="results per back end")
    parser.add_argument("--observations", type=int, default=300, help="observations per result")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    config = {"results": args.results, "observations_per_result": args.observations,
              "transaction": "one result with all its observations",
              "sqlite": "file, WAL, synchronous=FULL",
              "postgresql": "local cluster over TCP, fsync on, READ COMMITTED"}

    measured: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    with ExitStack() as stack:
        for backend in args.backends:
            if backend == "sqlite":
                directory = stack.enter_context(tempfile.TemporaryDirectory())
                url = f"sqlite:///{Path(directory) / 'bench.db'}"
            else:
                server = os.environ.get("INTERPHASE_TEST_PG_URL")
                if server:
                    server = resolve_url(server)
                else:
                    try:
                        cluster = start_cluster(durable=True)
                    except PostgresUnavailableError as exc:
                        skipped[backend] = str(exc)
                        continue
                    stack.callback(cluster.stop)
                    server = cluster.url
                url = stack.enter_context(temporary_database(server, prefix="interphase_bench"))
            measured[backend] = measure(url, args.results, args.observations)

    if not measured:
        print(f"store_throughput: nothing measured ({skipped})", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "store_throughput",
        "config": config,
        "results": measured,
        "skipped": skipped,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "sqlalchemy": version("sqlalchemy"),
                    "psycopg": version("psycopg")},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    (args.out / "store_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(measured, config, args.out / "store_throughput.png")
    print("store_throughput: " + "; ".join(
        f"{name} {r['observations_per_s']:,.0f} obs/s ({r['results_per_s']:.1f} results/s, "
        f"p50 {r['latency_ms']['p50']:.1f} ms)" for name, r in measured.items())
        + f" [{args.results} x {args.observations} obs]"
        + (f"; skipped {', '.join(skipped)}" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
