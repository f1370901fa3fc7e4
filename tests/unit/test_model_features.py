"""Design features and controls: layout, encode/decode round trips, missing values, control sources."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from interphase.models.features import (
    AMBIENT_TEMPERATURE,
    CHARGE_C_RATE,
    CHARGE_CUTOFF_VOLTAGE,
    CONTROL_DEFAULTS,
    CONTROL_NAMES,
    DISCHARGE_C_RATE,
    ControlLayout,
    DesignFeatures,
    protocol_controls,
)
from interphase.schema import InvalidInputError, Protocol
from interphase.sources.world import load_world
from support import factories

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def features() -> DesignFeatures:
    return DesignFeatures(factories.design_space())


def test_layout_has_a_column_per_number_and_a_one_hot_block_per_category(features: DesignFeatures) -> None:
    assert features.n_features == 6
    assert features.feature_names == ["temperature_k", "vc_mass_fraction", "formation_cycles",
                                      "additive=none", "additive=VC", "additive=FEC"]
    assert features.categorical_slices == [(3, 6)]
    assert features.continuous_columns == [0, 1, 2]
    assert features.columns["additive"] == (3, 6)
    assert features.controls.n_controls == 4


def test_encode_maps_to_the_unit_cube_with_log_scale_and_one_hot(features: DesignFeatures) -> None:
    design = factories.design(0, temperature_k=300.65, vc_mass_fraction=1e-3, formation_cycles=3,
                              additive="FEC")
    x, mask = features.encode([design])
    assert x.dtype == torch.float32 and x.shape == (1, 6) and torch.equal(mask, torch.ones(1, 6))
    expected_log = (math.log10(1e-3) - math.log10(1e-4)) / (math.log10(0.05) - math.log10(1e-4))
    assert x[0, 0].item() == pytest.approx((300.65 - 283.15) / 35.0, abs=1e-6)
    assert x[0, 1].item() == pytest.approx(expected_log, abs=1e-6)
    assert x[0, 2].item() == pytest.approx(0.5, abs=1e-6)  # integer 3 of 1..5: centre of its bin
    assert x[0, 3:].tolist() == [0.0, 0.0, 1.0]


def test_encode_decode_round_trip_keeps_values_and_categories(features: DesignFeatures) -> None:
    space = factories.design_space()
    designs = space.sample_sobol(64, seed=3)
    x, _ = features.encode(designs)
    decoded = features.decode(x)
    again, _ = features.encode(decoded)
    cube, cube_back = space.to_unit_cube(designs), space.to_unit_cube(decoded)
    assert np.abs(cube[:, :3] - cube_back[:, :3]).max() < 1e-6
    assert torch.allclose(x[:, :3], again[:, :3], atol=1e-6)
    assert [d.values["additive"] for d in decoded] == [d.values["additive"] for d in designs]
    assert [d.values["formation_cycles"] for d in decoded] == [d.values["formation_cycles"] for d in designs]
    for original, back in zip(designs, decoded, strict=True):  # log-scaled: relative precision
        assert back.values["vc_mass_fraction"] == pytest.approx(original.values["vc_mass_fraction"], rel=1e-5)


def test_decode_clamps_and_takes_the_argmax_of_each_block(features: DesignFeatures) -> None:
    x = torch.tensor([[-0.5, 1.7, 0.99, 0.2, 0.7, 0.1], [0.5, 0.0, 0.0, 0.3, 0.3, 0.9]])
    low, mid = features.decode(x)
    assert low.values == {"temperature_k": 283.15, "vc_mass_fraction": pytest.approx(0.05),
                          "formation_cycles": 5, "additive": "VC"}
    assert mid.values["additive"] == "FEC" and mid.values["formation_cycles"] == 1
    assert mid.values["temperature_k"] == pytest.approx(283.15 + 17.5)
    assert features.decode(x[0])[0] == low  # a single feature vector works too


def test_missing_variables_are_zero_and_masked(features: DesignFeatures) -> None:
    x, mask = features.encode([{"temperature_k": "20 degC"}, {"additive": "VC", "formation_cycles": None}])
    assert mask.tolist() == [[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]]
    assert x[0, 0].item() == pytest.approx((293.15 - 283.15) / 35.0, abs=1e-6)
    assert x[0, 1:].abs().sum() == 0 and x[1, :3].abs().sum() == 0
    assert x[1, 3:].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(("design", "field"), [
    ({"no_such_variable": 1.0}, "designs.0.no_such_variable"),
    ({"temperature_k": 500.0}, "designs.0.temperature_k"),
    ({"additive": "LiNO3"}, "designs.0.additive"),
    ({"formation_cycles": 2.5}, "designs.0.formation_cycles"),
])
def test_bad_designs_raise_naming_the_field(features: DesignFeatures, design: dict, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        features.encode([design])
    assert caught.value.field == field


def test_decode_rejects_the_wrong_width(features: DesignFeatures) -> None:
    with pytest.raises(InvalidInputError, match="expected N x 6"):
        features.decode(torch.zeros(2, 5))


def test_control_names_match_the_pybamm_cell_roles() -> None:
    from interphase.sources.pybamm_cell import config

    assert (CHARGE_C_RATE, DISCHARGE_C_RATE, CHARGE_CUTOFF_VOLTAGE) == config.PROTOCOL_CONTROLS
    assert AMBIENT_TEMPERATURE == config.AMBIENT_TEMPERATURE


def test_protocol_controls_are_parsed_from_pybamm_steps() -> None:
    steps = ("Charge at C/2 until 4.1 V", "Hold at 4.1 V until C/50", "Rest for 1 hour",
             "Discharge at 2C until 2.5 V")
    assert protocol_controls(steps) == {CHARGE_C_RATE: 0.5, CHARGE_CUTOFF_VOLTAGE: 4.1, DISCHARGE_C_RATE: 2.0}
    # Amps need the cell's capacity to become C-rates: those controls stay unset.
    assert protocol_controls(("Charge at 2 A until 4.0 V", "Discharge at 1 A until 3 V")) == {}
    assert protocol_controls(("Charge at 1C for 1 hour", "Hold at 4.15 V until C/20")) == {
        CHARGE_C_RATE: 1.0, CHARGE_CUTOFF_VOLTAGE: 4.15}


def test_controls_come_from_the_design_then_the_protocol_then_defaults() -> None:
    world = load_world("sei-life")
    layout = ControlLayout()
    design = world.design_space.sample_sobol(1, seed=0)[0]
    protocol = Protocol(steps=("Charge at 0.7C until 4.1 V", "Discharge at 1.5C until 2.5 V"), n_cycles=3,
                        ambient_temperature_k=278.15)
    u = layout.build([design, {}, {}], [protocol, protocol, None], horizon=7)
    assert u.shape == (3, 7, 4) and u.dtype == torch.float32
    assert torch.equal(u, u[:, :1].expand(3, 7, 4))  # constant over cycles
    values = design.values
    assert u[0, 0].tolist() == pytest.approx([
        values[CHARGE_C_RATE] / 2, values[DISCHARGE_C_RATE] / 2,
        (values[AMBIENT_TEMPERATURE] - 253.15) / 80, (values[CHARGE_CUTOFF_VOLTAGE] - 3.0) / 1.5], abs=1e-6)
    assert u[1, 0].tolist() == pytest.approx([0.35, 0.75, 25 / 80, 1.1 / 1.5], abs=1e-6)
    defaults = [CONTROL_DEFAULTS[n] for n in CONTROL_NAMES]
    assert u[2, 0].tolist() == pytest.approx([defaults[0] / 2, defaults[1] / 2, (defaults[2] - 253.15) / 80,
                                              (defaults[3] - 3.0) / 1.5], abs=1e-6)


def test_controls_reject_mismatched_inputs() -> None:
    with pytest.raises(InvalidInputError, match="protocols"):
        ControlLayout().build([{}, {}], [None], horizon=2)
