"""The benchmark's launch calibration on a campaign written the way the engine records it.

The campaign (``support.campaign_records``): four lab tests launched together with forecasts
from the SPM (one cell fails formation, one is stopped, one misses the target, one meets it),
then a fifth that meets it, then a replicate of the first hit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interphase.agent.bench import launch_calibration
from interphase.store import Store
from support.campaign_records import LAB, write_campaign, write_empty_campaign

pytestmark = pytest.mark.timeout(300)


def test_launches_are_scored_against_what_the_lab_then_showed(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "interphase.db"))
    store.init()
    try:
        write_campaign(store, "calibrated")
        write_empty_campaign(store, "empty")
        scores = launch_calibration(store, "calibrated")
        assert launch_calibration(store, "empty") is None

        # Every launched lab test with a result and a recorded P(meet), but the assembly
        # defect and the replicate: three of the first round and the late one.
        assert scores is not None
        assert scores["tests"] == 4
        assert scores["first_round"]["tests"] == 3
        hits = [hit for _, _, hit in scores["pairs"]]
        assert sum(hits) == 2  # one of the first round, and the late design
        assert scores["hit_rate"] == pytest.approx(0.5)
        assert scores["first_round"]["hit_rate"] == pytest.approx(1 / 3)

        # The P(meet) values are those the launch decisions recorded.
        recorded = sorted(run["predicted"]["Capacity retention"]["p_meet"]
                          for d in store.list_decisions("calibrated") if d.chosen.get("kind") == "launch"
                          for run in d.chosen["runs"] if run["source"] == LAB)
        paired = sorted(p for _, p, _ in scores["pairs"])
        assert set(np.round(paired, 12)) <= set(np.round(recorded, 12))
        p = np.array([p for _, p, _ in scores["pairs"]])
        y = np.array(hits, dtype=float)
        assert scores["mean_p_meet"] == pytest.approx(float(p.mean()))
        assert scores["brier"] == pytest.approx(float(np.mean((p - y) ** 2)))

        # An early replicate is a launch decision of the strategy with a forecast (for a second
        # cell of a design under test): it is left out too, so the scores stay those of new picks.
        replicate = next(d for d in store.list_decisions("calibrated") if d.chosen.get("kind") == "replicate")
        assert replicate.chosen["runs"][0]["predicted"]["Capacity retention"]["p_meet"] is not None
        store.log_decision("calibrated", {**replicate.chosen, "kind": "launch"}, [], "early replicate")
        assert launch_calibration(store, "calibrated") == scores
    finally:
        store.close()
