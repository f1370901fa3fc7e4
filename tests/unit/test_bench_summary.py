"""The discovery benchmark's summary over seeds and the code stamp on each row."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interphase.agent import bench
from interphase.agent.bench import (
    DEFAULT_SETTINGS,
    code_version,
    quantile,
    strategy_settings,
    summarise,
    summary_lines,
)


def row(strategy: str, seed: int, hours: float | None) -> dict[str, object]:
    return {"strategy": strategy, "seed": seed, "verified": hours is not None, "discovery_h": hours,
            "lab_hours": 100.0 * seed, "cpu_hours": 0.5, "wall_seconds": 60.0, "runs": 10 + seed,
            "decide_seconds": {"median": 1.0, "p90": 2.0, "max": 3.0 + seed}}


def test_medians_count_unverified_seeds_as_never_finding_a_design() -> None:
    rows = [row("trial-and-error", s, h) for s, h in enumerate([3000.0, 9000.0, None, 6000.0])]
    rows += [row("interphase", s, h) for s, h in enumerate([500.0, 700.0, 600.0, None])]
    summary = summarise(rows)
    baseline, ours = summary["trial-and-error"], summary["interphase"]
    assert (baseline["seeds"], baseline["verified"]) == (4, 3)
    assert baseline["median_h"] == pytest.approx(7500.0)  # median of 3000, 6000, 9000, inf
    assert ours["median_h"] == pytest.approx(650.0)
    assert baseline["acceleration"] == pytest.approx(7500.0 / 650.0)
    assert "acceleration" not in ours
    assert baseline["max_decide_seconds"] == pytest.approx(6.0)
    assert math.isinf(baseline["q75_h"])
    lines = summary_lines(summary)
    assert any(line.startswith("trial-and-error: median discovery 7500 h") and "11.5x faster" in line
               for line in lines)


def test_a_median_is_infinite_when_fewer_than_half_the_seeds_verified() -> None:
    summary = summarise([row("gp-qlogei", s, h) for s, h in enumerate([None, None, 800.0])])
    assert math.isinf(summary["gp-qlogei"]["median_h"])


def test_each_row_names_the_commit_that_produced_it() -> None:
    import subprocess

    import interphase

    stamp = code_version()
    here = Path(interphase.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        assert stamp == f"interphase {interphase.__version__}"  # an install outside a checkout
        return
    assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", stamp)
    assert stamp.split("+")[0] == head


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1.0, 2.0, 3.0, 4.0], 0.25, 1.75),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
    ([1.0, math.inf, math.inf], 0.75, math.inf),
    ([1.0, 2.0, math.inf], 0.5, 2.0),
    ([1.0, 2.0, math.inf, math.inf], 0.5, math.inf),
])
def test_quantiles_interpolate_and_reach_infinity_without_nan(values: list[float], q: float,
                                                              expected: float) -> None:
    assert quantile(np.array(values), q) == pytest.approx(expected)
    assert math.isnan(quantile(np.array([]), 0.5))


def test_harnesses_sharing_a_ledger_keep_each_others_rows(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = tmp_path / "discovery-sei-life.json"
    ledger.write_text(json.dumps({"runs": [row("trial-and-error", 0, 2926.0)]}))

    def other_harness_then_ours(jobs: list[bench.BenchJob], workers: int, on_result: Any) -> list[dict]:
        # Another process appends its row while this one runs its campaign.
        shared = json.loads(ledger.read_text())
        ledger.write_text(json.dumps({"runs": [*shared["runs"], row("interphase", 0, 700.0)]}))
        assert [(job.strategy, job.seed) for job in jobs] == [("gp-qlogei", 0)]
        on_result(row("gp-qlogei", 0, 1601.0))
        return []

    monkeypatch.setattr(bench, "run_jobs", other_harness_then_ours)
    report = bench.run_benchmark("sei-life", seeds=1, strategies=["trial-and-error", "gp-qlogei"],
                                 db=tmp_path / "store.db", json_path=ledger)
    kept = {(r["strategy"], r["seed"]) for r in json.loads(ledger.read_text())["runs"]}
    assert kept == {("trial-and-error", 0), ("interphase", 0), ("gp-qlogei", 0)}
    assert report["summary"]["gp-qlogei"]["acceleration"] == pytest.approx(1601.0 / 700.0)
    assert not list(tmp_path.glob("*.partial"))


def test_the_floor_is_the_shortest_full_length_test_of_the_target_region() -> None:
    from interphase.agent.plan import resolve
    from interphase.schema import Design
    from interphase.schema.run_config import RunConfig

    floor = bench.discovery_floor_h("sei-life", n_designs=256)
    plan = resolve(RunConfig(name="floor", world="sei-life", strategy="trial-and-error"))
    lab, protocol = plan.sources["lab-cell"], plan.world.protocol
    centre = {v.name: (v.lower + v.upper) / 2 for v in plan.world.design_space.variables}
    fastest = lab.estimate_cost(Design(values={**centre, "Charge C-rate": 2.0, "Discharge C-rate": 2.0}),
                                protocol).lab_hours
    slow = lab.estimate_cost(Design(values={**centre, "Charge C-rate": 1.5, "Discharge C-rate": 0.5}),
                             protocol).lab_hours
    # Formation (24 h) plus 200 cycles: the fastest corner of the region (charge >= 1.5C) comes
    # close to the floor, and a slow discharge takes far longer.
    assert 24.0 + 200 * 1.0 < floor <= fastest * 1.02
    assert slow > 1.3 * floor


def test_each_strategy_is_set_against_the_floor() -> None:
    rows = [row("trial-and-error", s, h) for s, h in enumerate([3000.0, 9000.0, 6000.0])]
    rows += [row("interphase", s, 800.0) for s in range(3)]
    summary = summarise(rows, floor_h=400.0)
    assert summary["trial-and-error"]["ceiling"] == pytest.approx(15.0)
    assert summary["interphase"]["ceiling"] == pytest.approx(2.0)
    lines = summary_lines(summary, floor_h=400.0)
    assert lines[0].startswith("floor: 400 h")
    assert any("7.5x faster, 15.0x the floor" in line for line in lines)


def test_launch_forecasts_are_pooled_over_seeds() -> None:
    first = {**row("interphase", 0, 900.0), "launch_calibration": {
        "pairs": [[0.0, 0.9, False], [0.0, 0.9, False], [400.0, 0.5, True]],
        "first_round": {"tests": 2, "mean_p_meet": 0.9, "hit_rate": 0.0}}}
    second = {**row("interphase", 1, 700.0), "launch_calibration": {
        "pairs": [[0.0, 0.6, True]], "first_round": {"tests": 1, "mean_p_meet": 0.6, "hit_rate": 1.0}}}
    launches = summarise([first, second, row("interphase", 2, 800.0)])["interphase"]["launches"]
    assert launches["tests"] == 4
    assert launches["mean_p_meet"] == pytest.approx((0.9 + 0.9 + 0.5 + 0.6) / 4)
    assert launches["hit_rate"] == pytest.approx(0.5)
    assert launches["first_round_mean_p_meet"] == pytest.approx(0.8)
    assert launches["first_round_hit_rate"] == pytest.approx(1 / 3)
    line = summary_lines(summarise([first, second]))[0]
    assert "4 lab launches at mean P(meet) 0.72 hit 0.50 (first round 0.80 vs 0.33)" in line


def test_a_variants_settings_add_to_the_benchmarks_defaults_and_do_not_replace_them() -> None:
    settings = strategy_settings({"interphase": {"replicate_misses": "first-launch"}, "gp-qlogei": {"q": 2}})
    assert settings["interphase"] == {**DEFAULT_SETTINGS["interphase"], "replicate_misses": "first-launch"}
    assert settings["interphase"]["max_simulations"] == 48  # what the ledger's rows ran with
    assert settings["mf-gp"] == DEFAULT_SETTINGS["mf-gp"] and settings["gp-qlogei"] == {"q": 2}
    assert strategy_settings() == DEFAULT_SETTINGS
    assert strategy_settings({"interphase": {"max_simulations": 96}})["interphase"]["max_simulations"] == 96


def test_failed_campaigns_are_counted_apart_and_listed_under_their_strategy() -> None:
    broken = {"strategy": "gp-qlogei", "seed": 3, "campaign": "sei-life-gp-qlogei-s3", "status": "failed",
              "verified": False, "discovery_h": None, "wall_seconds": 4.0,
              "error": {"type": "ValueError", "message": "Costs must be strictly positive."}}
    rows = [row("gp-qlogei", s, h) for s, h in enumerate([1000.0, 3000.0])] + [broken]
    rows += [row("interphase", s, 500.0) for s in range(2)]
    summary = summarise(rows)
    entry = summary["gp-qlogei"]
    assert (entry["seeds"], entry["verified"], entry["failed"]) == (2, 2, 1)
    assert entry["median_h"] == pytest.approx(2000.0)  # the failed seed is no seed of the figures
    assert entry["acceleration"] == pytest.approx(4.0)
    assert entry["failures"] == [{"seed": 3, "campaign": "sei-life-gp-qlogei-s3",
                                  "error": "ValueError: Costs must be strictly positive."}]
    lines = summary_lines(summary)
    assert lines[0].startswith("gp-qlogei: median discovery 2000 h") and ", 1 failed," in lines[0]
    assert lines[1] == "  sei-life-gp-qlogei-s3 failed: ValueError: Costs must be strictly positive."
    assert bench.finished_rows(rows) == [r for r in rows if r is not broken]


def test_agent_settings_by_strategy_or_the_interphase_agents_own() -> None:
    from interphase.agent.bench_config import parse_agent_settings

    assert parse_agent_settings('{"replicate_misses": "first-launch"}', bench.STRATEGIES) == {
        "interphase": {"replicate_misses": "first-launch"}}  # benchmarks/discovery.py's form
    assert parse_agent_settings('{"mf-gp": {"n_init": 4}, "interphase": {}}', bench.STRATEGIES) == {
        "mf-gp": {"n_init": 4}, "interphase": {}}
    assert parse_agent_settings("{}", ["gp-qlogei"]) == {}
