"""On the simulated clock, where simulations run never changes a decision.

A short sei-life campaign (20-cycle horizon) whose strategy asks for two PyBaMM SPM simulations
at a time and lab tests on the channels, run with the same seed inline (one process), on a local
pool of two processes, and on a local Ray cluster with two workers: the decision logs match
entry for entry (times measured on the machine aside), and so do the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interphase.agent.campaign import run_campaign
from interphase.agent.plan import resolve
from interphase.schema import canonical_hash
from interphase.schema.run_config import RunConfig
from interphase.store import Store
from support.decision_logs import decisions_without_timings
from support.short_campaigns import SimulateThenTest, register, write_short_world

pytestmark = pytest.mark.timeout(600)

@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    register(SimulateThenTest)


@pytest.fixture
def short_world(tmp_path: Path) -> Path:
    return write_short_world(tmp_path)


def results_by_key(store: Store, campaign: str) -> dict[str, Any]:
    """What each request's run produced (its measured CPU time aside)."""
    keys = {r.id: r.idempotency_key for r in store.list_requests(campaign)}
    return {keys[r.request_id]: (r.result.status, r.result.cycles_run, r.result.cost.lab_hours,
                                 canonical_hash([o.model_dump(mode="json") for o in r.result.observations]))
            for r in store.list_results(campaign=campaign)}


def run(tmp_path: Path, world: Path, executor: str,
        processes: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    store = Store(f"sqlite:///{tmp_path / f'{executor}-{processes}.db'}")
    try:
        config = RunConfig(name="same", world=str(world), strategy=SimulateThenTest.name, seed=5,
                           resources={"cpu_workers": 2, "executor": executor, "processes": processes},
                           stop={"max_runs": 12, "until_verified": False})
        outcome = run_campaign(store, resolve(config))
        assert outcome.runs == 12
        return decisions_without_timings(store, "same"), results_by_key(store, "same")
    finally:
        store.close()


def test_one_process_two_processes_and_ray_decide_alike(tmp_path: Path, short_world: Path) -> None:
    inline = run(tmp_path, short_world, "local", 1)
    kinds = [d["chosen"]["kind"] for d in inline[0]]
    sims = [run for d in inline[0] if d["chosen"]["kind"] == "launch" for run in d["chosen"]["runs"]
            if run["source"] == "pybamm-spm"]
    assert len(sims) >= 4 and "stop" in kinds  # batches of simulations ran, and tests were stopped
    assert run(tmp_path, short_world, "local", 2) == inline
    pytest.importorskip("ray")
    assert run(tmp_path, short_world, "ray", 2) == inline
