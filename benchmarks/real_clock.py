"""A sei-life campaign on the real clock, its lab served only by ``interphase worker`` processes.

The campaign (``interphase run --clock real``) serves its simulations with its own workers and
leaves every ``lab-cell`` request in the store's queue; two ``interphase worker --source
lab-cell`` processes, started separately, claim them (two channels each), pace the emulated
tests by ``--time-scale`` and stream their cycles, so the agent can stop tests from the cycles
it has seen. The script waits for the campaign's end, stops the workers and writes what
happened: verified or not, the discovery hour, the wall time, the tests stopped early from
streamed cycles, and what the status log says of claims and refusals.

    python benchmarks/real_clock.py --backend sqlite --time-scale 3600
    python benchmarks/real_clock.py --backend postgresql --time-scale 3600

Writes ``benchmarks/results/real_clock-<backend>.json``; ``--decisions FILE`` also writes the
campaign's decision log, to compare two runs (the backends, for one) decision by decision.
Both backends name the campaign ``real-clock-s<seed>``, so they draw the same lab.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interphase.sources.world import load_world  # noqa: E402
from interphase.store import Store  # noqa: E402
from support.pg_cluster import create_database, server_url  # noqa: E402

BIN = Path(sys.executable).parent / "interphase"
LAB = "lab-cell"
WORKERS = 2
SLOTS = 2


def database_url(backend: str, folder: Path, stack: ExitStack) -> str:
    """A fresh database: a SQLite file in ``folder``, or a database on a throwaway PostgreSQL server."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'real-clock.db'}"
    return create_database(server_url(stack), prefix="interphase_real_clock")


def campaign_config(name: str, seed: int, time_scale: float, wall_hours: float) -> dict[str, Any]:
    """The demo's campaign on the real clock; the lab is left to the separate workers."""
    return {"name": name, "world": "sei-life", "strategy": "interphase", "seed": seed,
            "agent": {"members": 3, "epochs": 40, "warm_epochs": 60, "min_steps": 500, "max_simulations": 24,
                      "forecast_from": "pybamm-spm"},
            "budget": {"lab_hours": 40000, "wall_hours": wall_hours},
            "clock": {"mode": "real", "time_scale": time_scale, "poll_seconds": 0.5,
                      "local_workers": sorted(set(load_world("sei-life").sources) - {LAB})}}


def summarise(url: str, campaign: str, wall_s: float, outputs: dict[str, str]) -> dict[str, Any]:
    """What the store says of the campaign."""
    store = Store(url)
    try:
        decisions = store.list_decisions(campaign)
        results = {r.request_id: r.result for r in store.list_results(campaign=campaign)}
        requests = store.list_requests(campaign)
        stops = [d.chosen for d in decisions if d.chosen["kind"] == "stop"]
        finished = next((d.chosen for d in decisions if d.chosen["kind"] == "finished"), {})
        lab = [r for r in requests if r.source == LAB]
        claimers: dict[str, int] = {}
        requeued = refused = 0
        for request in lab:
            for entry in store.status_history(request.id):
                if entry.status == "claimed":
                    worker = entry.detail.split(" (attempt")[0]
                    claimers[worker] = claimers.get(worker, 0) + 1
                requeued += entry.status == "queued" and entry.detail.startswith("re-queued")
                refused += entry.status == "refused"
        return {
            "campaign": campaign, "status": finished.get("status"),
            "verified": finished.get("status") == "verified", "discovery_h": finished.get("discovery_h"),
            "end_h": finished.get("clock_h"), "wall_seconds": wall_s,
            "runs": len(results), "lab_tests": len(lab),
            "stop_orders": len(stops),
            "stopped_early": sum(1 for s in stops if (r := results.get(s["request_id"])) is not None
                                 and r.status.value == "stopped"),
            "lab_claims_by_worker": claimers, "requeued": requeued, "refused": refused,
            "integrity_problems": store.integrity_problems(), "outputs": outputs,
        }
    finally:
        store.close()


def write_decisions(url: str, campaign: str, path: Path) -> None:
    """The campaign's decision log as JSON lines, oldest first, with the store's timestamps."""
    store = Store(url)
    try:
        lines = [json.dumps({"created_at": d.created_at.isoformat(), "request_id": d.request_id,
                             "chosen": d.chosen, "reason": d.reason}, default=str)
                 for d in store.list_decisions(campaign)]
    finally:
        store.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the campaign with its two workers and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--time-scale", type=float, default=3600.0,
                        help="simulated seconds per wall second (3600: one lab hour a second)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wall-hours", type=float, default=0.5, help="the campaign's wall-clock budget")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--decisions", type=Path, default=None,
                        help="also write the campaign's decision log here, one JSON object a line")
    args = parser.parse_args(argv)
    name = f"real-clock-s{args.seed}"  # one name on every backend: request seeds derive from it
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        url = database_url(args.backend, folder, stack)
        config = folder / "campaign.yaml"
        config.write_text(yaml.safe_dump(campaign_config(name, args.seed, args.time_scale, args.wall_hours)))
        store = Store(url)  # the workers start first, and serve an existing store only
        store.init()
        store.close()
        workers = []
        for i in range(WORKERS):
            command = [str(BIN), "--db", url, "worker", "--source", LAB, "--world", "sei-life",
                       "--slots", str(SLOTS), "--time-scale", str(args.time_scale), "--campaign", name,
                       "--name", f"lab-{i}", "--poll-seconds", "0.5", "--lease-seconds", "20"]
            log = (folder / f"worker-{i}.log").open("w")
            workers.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))  # noqa: S603
        began = time.monotonic()
        command = [str(BIN), "--db", url, "run", str(config), "--quiet", "--report", str(folder / "report")]
        run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        wall_s = time.monotonic() - began
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in workers]
        outputs = {"run": (run.stdout + run.stderr)[-4000:], "run_exit": str(run.returncode),
                   "worker_exits": json.dumps(codes)}
        for i in range(WORKERS):
            outputs[f"worker-{i}"] = (folder / f"worker-{i}.log").read_text()[-2000:]
        row = summarise(url, name, wall_s, outputs)
        if args.decisions is not None:
            write_decisions(url, name, args.decisions)
    row.update(backend=args.backend, time_scale=args.time_scale, seed=args.seed, workers=WORKERS, slots=SLOTS)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"real_clock-{args.backend}.json"
    path.write_text(json.dumps(row, indent=1))
    print(json.dumps({k: v for k, v in row.items() if k != "outputs"}, indent=1))
    print(f"wrote {path}")
    return 0 if row["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
