"""Lab hours of a test, estimated before it runs from the protocol's steps and the design's C-rates."""

from __future__ import annotations

from interphase.schema import Design, Protocol
from interphase.sources.pybamm_cell.config import CHARGE_C_RATE, DISCHARGE_C_RATE

SECONDS_PER_HOUR = 3600.0


def estimate_cycle_hours(design: Design, protocol: Protocol, cv_hold_hours: float) -> float:
    """Expected hours of one cycle.

    Each step counts as: its ``for`` duration if it has one; ``1 / C-rate`` hours for a
    constant-current step (the design's charge or discharge C-rate when the design sets
    it), i.e. a full charge or discharge; ``cv_hold_hours`` for a voltage hold; one hour
    for any other step.

    Args:
        design: The design (SI); its C-rates replace the protocol's.
        protocol: The protocol; one cycle of its steps is estimated.
        cv_hold_hours: Expected length of a constant-voltage hold, in hours.

    Returns:
        Hours per cycle.
    """
    import pybamm

    hours = 0.0
    for text in protocol.steps:
        step = pybamm.step.string(text)
        if step.input_duration is not None:
            hours += float(step.duration) / SECONDS_PER_HOUR
        elif isinstance(step, pybamm.step.CRate):
            rate = _design_rate(design, step.direction) or abs(float(step.value))
            hours += 1.0 / rate
        elif isinstance(step, pybamm.step.Voltage):
            hours += cv_hold_hours
        else:
            hours += 1.0
    return hours


def _design_rate(design: Design, direction: str | None) -> float | None:
    name = {"charge": CHARGE_C_RATE, "discharge": DISCHARGE_C_RATE}.get(direction or "")
    value = design.values.get(name) if name else None
    return float(value) if value is not None else None
