"""The decision table: one row per decision (time, kind, source, designs, reason), and design text.

Design values are stored in SI; people read them in the unit the design space declared
(``degC``, ``nm``), so every value shown here is converted back to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from interphase.report.data import ReportData
from interphase.schema import DesignSpace, InvalidInputError
from interphase.schema.units import from_si

_PRETTY_UNITS = (("**2", "²"), ("**3", "³"), ("**-1", "⁻¹"), ("*", "·"), ("degC", "°C"))


@dataclass(frozen=True)
class DecisionRow:
    """A decision as the table shows it.

    Attributes:
        clock_h: Simulated hour of the decision (None when not recorded).
        kind: ``launch``, ``replicate``, ``stop``, ``verified`` or ``finished``.
        sources: Sources of the runs it concerns, comma-separated ("" for none).
        designs: One line per design it concerns (id and values in declared units).
        reason: The decision's one-line reason.
    """

    clock_h: float | None
    kind: str
    sources: str
    designs: tuple[str, ...]
    reason: str


def pretty_unit(unit: str) -> str:
    """A pint unit string as people write it: ``m**2/s`` -> ``m²/s``, ``degC`` -> ``°C``."""
    for old, new in _PRETTY_UNITS:
        unit = unit.replace(old, new)
    return unit


def short_name(name: str) -> str:
    """A variable's name without its bracketed SI unit.

    ``"Ambient temperature [K]"`` -> ``"Ambient temperature"``.
    """
    return name.split(" [", 1)[0].strip() if name.endswith("]") and " [" in name else name


def display_unit(space: DesignSpace, name: str) -> str:
    """The unit a variable's values are shown in (as declared; SI when none was)."""
    try:
        variable = space.variable(name)
    except InvalidInputError:
        return ""
    return pretty_unit(getattr(variable, "unit", "") or getattr(variable, "si_unit", ""))


def display_value(space: DesignSpace, name: str, value: Any) -> str:
    """A stored (SI) value in the variable's declared unit, to 3 significant digits, without the unit."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return str(value)
    try:
        variable = space.variable(name)
    except InvalidInputError:  # a variable the space lacks: shown as stored
        return f"{value:.3g}"
    unit = getattr(variable, "unit", "")
    if unit and unit != getattr(variable, "si_unit", ""):
        value = from_si(float(value), unit)
    return f"{value:.3g}"


def design_text(space: DesignSpace, values: dict[str, Any], design_id: str | None = None) -> str:
    """A design on one line: ``"1a2b3c4d: Ambient temperature 25 °C, Charge C-rate 1.8"``."""
    parts = []
    for name, value in values.items():
        unit = display_unit(space, name)
        parts.append(f"{short_name(name)} {display_value(space, name, value)}{' ' + unit if unit else ''}")
    prefix = f"{design_id[:8]}: " if design_id else ""
    return prefix + ", ".join(parts)


def decision_rows(data: ReportData) -> list[DecisionRow]:
    """Every decision as a table row, in the order they were made."""
    space = data.spec.design_space
    rows = []
    for decision in data.decisions:
        chosen = decision.chosen
        kind = str(chosen.get("kind", "?"))
        clock = chosen.get("clock_h")
        sources: list[str] = []
        designs: list[str] = []
        if kind in ("launch", "replicate"):
            for run in chosen.get("runs") or []:
                sources.append(str(run.get("source", "?")))
                designs.append(design_text(space, run.get("design") or {}, run.get("design_id")))
        elif kind == "stop":
            request = data.requests.get(chosen.get("request_id") or decision.request_id or "")
            if request is not None:
                sources.append(request.source)
                after = chosen.get("after_cycle", "?")
                designs.append(f"{request.design_id[:8]}: stopped after cycle {after}")
        elif kind == "verified":
            designs.append(design_text(space, chosen.get("design") or {}, chosen.get("design_id")))
            if data.highest_fidelity:
                sources.append(data.highest_fidelity)
        elif kind == "finished":
            designs.append(f"status {chosen.get('status', '?')}")
        rows.append(DecisionRow(float(clock) if isinstance(clock, int | float) else None, kind,
                                ", ".join(dict.fromkeys(sources)), tuple(designs), decision.reason))
    return rows
