"""Which launch forecast the agent's track record sets each highest-fidelity test against."""

from __future__ import annotations

from typing import Any

from interphase.agent.strategies.interphase_agent import launch_forecasts

RETENTION = "Capacity retention"


def _run(request_id: str, design_id: str, mean: float | None, *, source: str = "lab-cell",
         replicate_of: str | None = None) -> dict[str, Any]:
    predicted = {} if mean is None else {RETENTION: {"mean": mean, "std": 0.01, "raw_mean": mean - 0.002}}
    return {"request_id": request_id, "design_id": design_id, "source": source, "predicted": predicted,
            "replicate_of": replicate_of}


DECISIONS = [
    {"kind": "launch", "runs": [_run("sim-1", "d1", 0.99, source="pybamm-spme")]},
    {"kind": "launch", "runs": [_run("lab-1", "d1", 0.975), _run("lab-2", "d2", 0.968)]},
    {"kind": "launch", "runs": [_run("early-1", "d1", None, replicate_of="d1")]},  # the ledger's agent
    {"kind": "launch", "runs": [_run("early-2", "d2", 0.955, replicate_of="d2")]},  # "new-cell"
    {"kind": "replicate", "runs": [_run("verify-1", "d1", None, replicate_of="d1")]},  # the engine's
    {"kind": "stop", "request_id": "lab-2", "after_cycle": 40},
]


def test_only_launches_on_the_source_with_a_forecast_count_and_replicates_are_left_out_by_default() -> None:
    forecasts = launch_forecasts(DECISIONS, "lab-cell", RETENTION)
    assert set(forecasts) == {"lab-1", "lab-2", "early-2"}  # no simulation, no replicate without one
    assert forecasts["lab-1"]["mean"] == 0.975 and forecasts["early-2"]["mean"] == 0.955
    assert launch_forecasts(DECISIONS, "lab-cell", "Resistance [Ohm]") == {}


def test_first_launch_sets_a_replicate_without_a_forecast_against_its_designs_first_test() -> None:
    replicates = {"early-1": "d1", "verify-1": "d1", "early-2": "d2", "orphan": "d9"}
    forecasts = launch_forecasts(DECISIONS, "lab-cell", RETENTION, replicates)
    assert forecasts["early-1"] is forecasts["lab-1"] and forecasts["verify-1"] is forecasts["lab-1"]
    assert forecasts["early-2"]["mean"] == 0.955  # its own forecast stands
    assert "orphan" not in forecasts  # its design's first test carried no forecast
    assert forecasts["lab-1"]["raw_mean"] == 0.975 - 0.002  # not the simulator's forecast of d1 (0.99)
