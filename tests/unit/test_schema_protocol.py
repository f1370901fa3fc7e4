"""Cycling protocols: PyBaMM step strings checked by PyBaMM's own parser."""

from __future__ import annotations

import math
from typing import Any

import pytest

from interphase.schema import InvalidInputError, Protocol, parse_model

pytestmark = pytest.mark.timeout(120)

STEPS = ["Charge at 1C until 4.2 V", "Hold at 4.2 V until C/50", "Discharge at 1C until 2.5 V"]


def protocol_dict(**changes: Any) -> dict[str, Any]:
    return {"steps": list(STEPS), "n_cycles": 3, "ambient_temperature_k": 298.15, **changes}


@pytest.mark.parametrize(
    "step",
    [
        "Charge at 1C until 4.2 V",
        "Charge at 0.5 A until 4.1 V",
        "Hold at 4.2 V until C/50",
        "Discharge at 2 W for 10 minutes",
        "Discharge at 0.5C for 1 hour",
        "Rest for 10 minutes",
        "Rest for 1 hour or until 3 V",
        "Discharge at 1C until 2.5 V (1 second period)",
    ],
)
def test_valid_pybamm_steps_are_accepted(step: str) -> None:
    protocol = parse_model(Protocol, protocol_dict(steps=[step]))
    assert protocol.steps == (step,)


@pytest.mark.parametrize(
    ("steps", "index"),
    [
        (["Dance at 1C until 4.2 V"], 0),
        (["Charge at 1C"], 0),
        ([""], 0),
        (["Charge at 1C until 4.2 V", "Rest for ten minutes"], 1),
        (["Charge at 1C until 4.2 V", "Hold at 4.2 V until C/50", "banana"], 2),
    ],
)
def test_garbage_steps_are_rejected_by_index(steps: list[str], index: int) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(Protocol, protocol_dict(steps=steps))
    assert info.value.field == f"steps.{index}"
    assert repr(steps[index]) in info.value.problem
    assert "is not a PyBaMM experiment step" in info.value.problem
    assert "'Rest for 10 minutes'" in info.value.problem  # an example of what is accepted


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [42]}, "steps.0"),
        ({"n_cycles": 0}, "n_cycles"),
        ({"n_cycles": 100_001}, "n_cycles"),
        ({"n_cycles": 2.5}, "n_cycles"),
        ({"ambient_temperature_k": 25.0}, "ambient_temperature_k"),
        ({"ambient_temperature_k": 600.0}, "ambient_temperature_k"),
        ({"ambient_temperature_k": math.nan}, "ambient_temperature_k"),
        ({"ambient_temperature_k": math.inf}, "ambient_temperature_k"),
        ({"cycles": 3}, "cycles"),
    ],
)
def test_other_fields_are_checked(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(Protocol, protocol_dict(**changes))
    assert info.value.field == field


@pytest.mark.parametrize("n_cycles", [1, 4, 250])
def test_experiment_steps_repeat_the_cycle(n_cycles: int) -> None:
    protocol = parse_model(Protocol, protocol_dict(n_cycles=n_cycles))
    cycles = protocol.experiment_steps()
    assert len(cycles) == n_cycles
    assert all(cycle == tuple(STEPS) for cycle in cycles)


def test_experiment_steps_build_a_pybamm_experiment() -> None:
    import pybamm

    protocol = parse_model(Protocol, protocol_dict(n_cycles=4))
    experiment = pybamm.Experiment(protocol.experiment_steps())
    assert experiment.cycle_lengths == [3, 3, 3, 3]
    assert len(experiment.steps) == 12


def test_protocol_is_frozen() -> None:
    protocol = parse_model(Protocol, protocol_dict())
    with pytest.raises(ValueError):
        protocol.n_cycles = 5  # type: ignore[misc]
