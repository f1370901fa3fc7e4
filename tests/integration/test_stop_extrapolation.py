"""A stopped lab test's value at the horizon, estimated from its own first cycles (real lab cells)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from interphase.agent.track_record import horizon_estimate
from interphase.schema import ResultStatus
from interphase.sources import get_source
from interphase.sources.world import load_world

pytestmark = pytest.mark.timeout(180)
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
RETENTION = "Capacity retention"


@pytest.mark.parametrize(("temperature_k", "charge_c_rate", "diffusivity"),
                         [(298.15, 1.8, 3e-20), (313.15, 1.5, 1e-19)])
def test_the_estimate_from_forty_cycles_lands_near_the_last_cycle_where_the_value_at_the_stop_does_not(
        temperature_k: float, charge_c_rate: float, diffusivity: float) -> None:
    world = load_world("sei-life")
    centre = world.design_space.from_unit_cube(np.full((1, world.design_space.dim), 0.5))[0]
    design = world.design_space.validate_design({
        **centre.values, "Ambient temperature [K]": temperature_k, "Charge C-rate": charge_c_rate,
        "SEI solvent diffusivity [m2.s-1]": diffusivity})
    result = get_source("lab-cell").run(design, world.protocol, seed=20261125)
    assert result.status is ResultStatus.SUCCEEDED, result.message
    points = sorted((o.index, o.value) for o in result.observations if o.observable == RETENTION)
    cycles, values = np.asarray([p[0] for p in points]), np.asarray([p[1] for p in points])
    final = float(values[-3:].mean())
    early = cycles <= 40
    at_stop = float(values[early][-3:].mean())
    estimate = horizon_estimate(cycles[early], values[early], float(cycles[-1]))
    assert estimate is not None
    assert final - 0.005 <= estimate <= final + 0.04  # a mild upper bound of the last cycle
    assert at_stop - final > 0.05  # what the value at the stop would have claimed
