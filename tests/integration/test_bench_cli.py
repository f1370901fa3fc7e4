"""``interphase bench`` and ``benchmarks/discovery.py`` on a tiny world: failures, seeds, limits, settings.

The world is the Münster robot alone (``electrolyte-conductivity`` without its simulator): a test
is half an hour of its measured table, so a campaign of a few lab hours takes seconds. A
strategy that raises on purpose (registered here, so campaigns run in this process:
``--workers 1``) stands for any campaign that fails.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from interphase.agent.options import Proposal
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CampaignView
from interphase.sources.world import load_world
from interphase.store import Store
from support.cli import cli

pytestmark = pytest.mark.timeout(240)

BROKEN = "bench-test-broken"
ROOT = Path(__file__).resolve().parents[2]


class Broken(Strategy):
    """Raises at its first decision, as a strategy with a bug would."""

    name = BROKEN

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        raise RuntimeError(f"the strategy broke on purpose at {view.clock_h:g} h")


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    from interphase.agent import strategy

    strategy.strategy_names()  # the built-ins first
    if BROKEN not in strategy._REGISTRY:
        register_strategy(BROKEN, Broken)


@pytest.fixture
def robot_world(tmp_path: Path) -> Path:
    world = load_world("electrolyte-conductivity").model_dump(mode="json", exclude_none=True)
    world.update({"name": "robot-only", "sources": {"hte-robot": world["sources"]["hte-robot"]}})
    path = tmp_path / "robot-only.yaml"
    path.write_text(yaml.safe_dump(world))
    return path


def rows_of(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    return {(row["strategy"], row["seed"]): row for row in json.loads(path.read_text())["runs"]}


def test_a_failing_campaign_is_a_row_with_its_error_and_the_others_run(robot_world: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ("bench", str(robot_world), "--seeds", "2", "--strategies", f"trial-and-error,{BROKEN}",
            "--workers", "1", "--budget-lab-hours", "3", "--out", str(out))
    result = cli(None, *argv)

    assert result.exit_code == 1, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: 2 of 4 campaigns failed"), result.stderr
    assert "Traceback" not in result.output
    rows = rows_of(out / "discovery-robot-only.json")
    assert set(rows) == {(s, seed) for s in ("trial-and-error", BROKEN) for seed in (0, 1)}
    for seed in (0, 1):
        ran = rows[("trial-and-error", seed)]
        assert ran["status"] in ("verified", "budget") and ran["runs"] >= 6
        failed = rows[(BROKEN, seed)]
        assert failed["status"] == "failed" and failed["verified"] is False
        assert failed["error"] == {"type": "RuntimeError", "message": "the strategy broke on purpose at 0 h"}
        assert failed["campaign"] == f"robot-only-{BROKEN}-s{seed}"
    summary = json.loads((out / "discovery-robot-only.json").read_text())["summary"]
    assert summary[BROKEN] == {"seeds": 0, "verified": 0, "failed": 2, "failures": [
        {"seed": seed, "campaign": f"robot-only-{BROKEN}-s{seed}",
         "error": "RuntimeError: the strategy broke on purpose at 0 h"} for seed in (0, 1)]}
    assert summary["trial-and-error"]["seeds"] == 2 and "failed" not in summary["trial-and-error"]
    assert f"{BROKEN}: no campaign ended, 2 failed" in result.stdout
    assert f"  robot-only-{BROKEN}-s1 failed: RuntimeError: the strategy broke on purpose" in result.stdout
    assert (out / "discovery-robot-only.png").exists() and (out / "discovery-robot-only.db").exists()

    # Again: the finished campaigns are read back as they were, the failed ones run again.
    again = cli(None, *argv)
    assert again.exit_code == 1
    after = rows_of(out / "discovery-robot-only.json")
    for seed in (0, 1):
        assert after[("trial-and-error", seed)] == rows[("trial-and-error", seed)]
        assert after[(BROKEN, seed)]["error"] == rows[(BROKEN, seed)]["error"]  # resumed, failed the same way
        assert after[(BROKEN, seed)]["wall_seconds"] != rows[(BROKEN, seed)]["wall_seconds"]


def test_seeds_wall_limit_and_settings_reach_each_campaign(robot_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = {"mf-gp": {"n_init": 3}, "gp-qlogei": {"n_init": 3, "raw_samples": 32}}
    result = cli(None, "bench", str(robot_world), "--first-seed", "5", "--seeds", "1", "--strategies",
                 "gp-qlogei,mf-gp", "--workers", "1", "--budget-lab-hours", "3", "--wall-hours", "1e-6",
                 "--agent", json.dumps(settings), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = rows_of(out / "discovery-robot-only.json")
    assert set(rows) == {("gp-qlogei", 5), ("mf-gp", 5)}
    # The given settings add to the benchmark's defaults (mf-gp's 48 simulations).
    assert rows[("mf-gp", 5)]["settings"] == {"max_simulations": 48, "n_init": 3}
    assert rows[("gp-qlogei", 5)]["settings"] == {"n_init": 3, "raw_samples": 32}
    for row in rows.values():  # 3.6 ms of real time: each ends on its wall limit, nothing verified
        assert row["status"] == "wall" and not row["verified"]
        assert row["campaign"].endswith("-s5")
    store = Store(str(out / "discovery-robot-only.db"))
    try:
        names = {c.name for c in store.list_campaigns()}
        configs = [json.loads(store.get_artifact(a.sha256)) for a in store.list_artifacts("run-config")]
    finally:
        store.close()
    assert names == {"robot-only-gp-qlogei-s5", "robot-only-mf-gp-s5"}
    assert {c["name"]: (c["seed"], c["budget"]["wall_hours"], c["agent"]) for c in configs} == {
        "robot-only-gp-qlogei-s5": (5, 1e-6, settings["gp-qlogei"]),
        "robot-only-mf-gp-s5": (5, 1e-6, {"max_simulations": 48, "n_init": 3})}

    # Other settings for the same folder would read these campaigns back as they ran: refused.
    other = cli(None, "bench", str(robot_world), "--first-seed", "5", "--seeds", "1", "--strategies", "mf-gp",
                "--workers", "1", "--budget-lab-hours", "3", "--agent", '{"mf-gp": {"n_init": 4}}',
                "--out", str(out))
    assert other.exit_code == 2
    assert other.stderr.startswith("error: --agent: ") and "robot-only-mf-gp-s5" in other.stderr


def test_the_discovery_script_keeps_its_store_under_out(robot_world: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("discovery_script", ROOT / "benchmarks" / "discovery.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "results"
    code = script.main(["--world", str(robot_world), "--seeds", "1", "--first-seed", "2", "--strategies",
                        "trial-and-error", "--workers", "1", "--budget-lab-hours", "2", "--out", str(out)])
    assert code == 0
    assert not (ROOT / "benchmarks" / "data" / "discovery-robot-only.db").exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(("-wal", "-shm", ".lock"))) == [
        "discovery-robot-only.db", "discovery-robot-only.json", "discovery-robot-only.png"]
    assert set(rows_of(out / "discovery-robot-only.json")) == {("trial-and-error", 2)}


def test_the_committed_ledger_still_reads_and_summarises_as_it_was_written() -> None:
    from interphase.agent.bench import read_rows, summarise, summary_lines
    from interphase.schema.plain import plain_json

    ledgers = sorted((ROOT / "benchmarks" / "results").glob("discovery-*.json"))
    assert ledgers
    for path in ledgers:
        report = json.loads(path.read_text())
        summary = plain_json(summarise(list(read_rows(path).values()), floor_h=report["floor_h"]))
        assert summary == report["summary"], path.name
        failures = sum(len(entry.get("failures", [])) for entry in summary.values())
        assert len(summary_lines(summary, report["floor_h"])) == 1 + len(summary) + failures
