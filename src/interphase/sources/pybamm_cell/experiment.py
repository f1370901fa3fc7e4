"""From a design and a protocol to a PyBaMM model, parameter values, experiment and inputs.

How a design becomes an experiment:

* The protocol gives the shape of one cycle (its PyBaMM step strings), the number of
  cycles and the ambient temperature. The design overrides values in it:

  - ``"Charge C-rate"``: every charge step (``"Charge at ... "``, C-rate or current)
    runs at this C-rate;
  - ``"Charge cut-off voltage [V]"``: every charge step ends at this voltage, and every
    ``"Hold at ... V"`` step holds it (the CV phase of CC-CV);
  - ``"Discharge C-rate"``: every discharge step runs at this C-rate; its cut-off stays
    the protocol's (e.g. 2.5 V);
  - ``"Ambient temperature [K]"``: replaces ``protocol.ambient_temperature_k``;
  - any other variable is a parameter of the parameter set under its own name
    (``"SEI solvent diffusivity [m2.s-1]"``, ``"Initial SEI thickness [m]"``...).

  Rest steps, step durations given with ``for`` and the discharge cut-off are the
  protocol's. A variable the design space lacks keeps the protocol's (or the parameter
  set's) value.
* Every overridden value is a PyBaMM ``InputParameter``, so one built and discretised
  simulation serves every design of a space: it is rebuilt only when the model, the
  protocol's steps or the space's variables change (see :mod:`.model_cache`).
  PyBaMM forbids ``"Ambient temperature [K]"`` as an input of an experiment, so both the
  ambient and the initial temperature are set to the input :data:`TEMPERATURE_INPUT`.
* A C-rate step whose rate is an input cannot take PyBaMM's default duration (twice the
  nominal time at its rate), so it gets the default duration at the slowest rate of the
  space, ``2 h / lower bound``, unless the protocol gives one with ``for``. Only the cut-off
  ends such a step; reaching that duration counts as a failure of the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pybamm

from interphase.schema import Design, Protocol
from interphase.sources.base import SourceError
from interphase.sources.pybamm_cell.config import (
    AMBIENT_TEMPERATURE,
    CHARGE_C_RATE,
    CHARGE_CUTOFF_VOLTAGE,
    DISCHARGE_C_RATE,
    CellModelConfig,
    DesignRoles,
)

TEMPERATURE_INPUT = "Ambient temperature setting [K]"
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class StepPlan:
    """One step of the cycle as the simulation runs it.

    Attributes:
        step: The PyBaMM step, with inputs in place of the design's values.
        label: The protocol string it came from, for messages.
        direction: ``"charge"``, ``"discharge"``, ``"rest"`` or None (holds and others).
        time_limited: Whether reaching its duration is a normal end (a ``for`` step or a
            step without cut-off); otherwise only a cut-off may end it.
    """

    step: pybamm.step.BaseStep
    label: str
    direction: str | None
    time_limited: bool


def cycle_plan(protocol_steps: tuple[str, ...], roles: DesignRoles) -> tuple[StepPlan, ...]:
    """The steps of one cycle, with the design's controls as inputs.

    Args:
        protocol_steps: One cycle as PyBaMM step strings.
        roles: Which controls the design sets, and the slowest C-rates of the space.

    Returns:
        One plan per protocol step, in order.

    Raises:
        SourceError: If a C-rate control has a lower bound that is not positive.
    """
    floors = dict(roles.rate_floors)
    for name, floor in floors.items():
        if not floor > 0:
            raise SourceError(f"design variable {name!r} needs a positive lower bound, got {floor:g}")
    return tuple(_plan_step(text, roles.controls, floors) for text in protocol_steps)


def _plan_step(text: str, controls: tuple[str, ...], floors: dict[str, float]) -> StepPlan:
    parsed = pybamm.step.string(text)
    time_limited = parsed.input_duration is not None or not parsed.termination
    if isinstance(parsed, pybamm.step.Rest):
        return StepPlan(parsed, text, "rest", time_limited)
    if isinstance(parsed, pybamm.step.Voltage):
        if CHARGE_CUTOFF_VOLTAGE not in controls:
            return StepPlan(parsed, text, None, time_limited)
        label = _label(text, (CHARGE_CUTOFF_VOLTAGE,))
        hold = pybamm.step.voltage(
            pybamm.InputParameter(CHARGE_CUTOFF_VOLTAGE), duration=parsed.input_duration,
            termination=list(parsed.termination), description=label)
        return StepPlan(hold, label, None, time_limited)
    if not isinstance(parsed, pybamm.step.CRate | pybamm.step.Current):
        return StepPlan(parsed, text, parsed.direction, time_limited)
    if parsed.direction == "charge":
        return _charge_step(parsed, text, controls, floors, time_limited)
    if parsed.direction == "discharge" and DISCHARGE_C_RATE in controls:
        rate = pybamm.InputParameter(DISCHARGE_C_RATE)
        duration = _duration(parsed, floors[DISCHARGE_C_RATE])
        termination = _with_operator(parsed.termination, "<")
        label = _label(text, (DISCHARGE_C_RATE,))
        step = pybamm.step.c_rate(rate, duration=duration, termination=termination, direction="discharge",
                                  description=label)
        return StepPlan(step, label, "discharge", time_limited)
    return StepPlan(parsed, text, parsed.direction, time_limited)


def _charge_step(parsed: pybamm.step.BaseStep, text: str, controls: tuple[str, ...],
                 floors: dict[str, float], time_limited: bool) -> StepPlan:
    overrides_rate = CHARGE_C_RATE in controls
    overrides_cutoff = CHARGE_CUTOFF_VOLTAGE in controls
    if not (overrides_rate or overrides_cutoff):
        return StepPlan(parsed, text, "charge", time_limited)
    termination = _with_operator(parsed.termination, ">")
    label = _label(text, tuple(name for name in (CHARGE_C_RATE, CHARGE_CUTOFF_VOLTAGE) if name in controls))
    if overrides_cutoff:
        cutoff = pybamm.InputParameter(CHARGE_CUTOFF_VOLTAGE)
        termination = [pybamm.step.VoltageTermination(cutoff, operator=">")
                       if isinstance(term, pybamm.step.VoltageTermination) else term
                       for term in termination]
    if overrides_rate:
        value = -pybamm.InputParameter(CHARGE_C_RATE)
        duration = _duration(parsed, floors[CHARGE_C_RATE])
        step = pybamm.step.c_rate(value, duration=duration, termination=termination,
                                  direction="charge", description=label)
    else:
        step = type(parsed)(parsed.input_value, duration=parsed.input_duration, termination=termination,
                            direction="charge", description=label)
    return StepPlan(step, label, "charge", time_limited)


def _label(text: str, overridden: tuple[str, ...]) -> str:
    """The protocol step with a note of which of its values the design replaces."""
    return f"{text} (design sets {', '.join(overridden)})"


def _with_operator(terminations: list, operator: str) -> list:
    """Voltage cut-offs with an explicit operator.

    PyBaMM infers a cut-off's sense from the sign of the step's value, which it cannot
    read from an input; without the operator the cut-off would never fire.
    """
    return [pybamm.step.VoltageTermination(term.value, operator=operator)
            if isinstance(term, pybamm.step.VoltageTermination) and term.operator is None else term
            for term in terminations]


def _duration(parsed: pybamm.step.BaseStep, rate_floor: float) -> float:
    """The protocol's ``for`` duration, else PyBaMM's default at the slowest rate."""
    if parsed.input_duration is not None:
        return float(parsed.duration)
    return 2.0 * SECONDS_PER_HOUR / rate_floor


def parameter_values(config: CellModelConfig, roles: DesignRoles) -> pybamm.ParameterValues:
    """The parameter set with the config's fixed values and the design's parameters as inputs.

    Raises:
        SourceError: If a fixed or design parameter is not a parameter of the set.
    """
    values = pybamm.ParameterValues(config.parameter_set)
    temperature = pybamm.InputParameter(TEMPERATURE_INPUT)
    updates: dict[str, object] = {**config.parameters,
                                  "Ambient temperature [K]": temperature,
                                  "Initial temperature [K]": temperature}
    updates.update({name: "[input]" for name in roles.parameters})
    unknown = [name for name in updates if name not in values.keys()]
    if unknown:
        raise SourceError(
            f"{', '.join(repr(n) for n in unknown)} is not a parameter of {config.parameter_set!r}; "
            "a design variable must be a protocol control, the ambient temperature or a parameter "
            "of the set")
    values.update(updates)
    return values


def build_model(config: CellModelConfig) -> pybamm.BaseModel:
    """The PyBaMM model named by the config, with its options."""
    model_class = getattr(pybamm.lithium_ion, config.model)
    return model_class(dict(config.options))


def build_solver(config: CellModelConfig, output_variables: list[str]) -> pybamm.IDAKLUSolver:
    """An IDAKLU solver that keeps only ``output_variables`` (the memory saving for DFN)."""
    return pybamm.IDAKLUSolver(rtol=config.rtol, atol=config.atol, output_variables=output_variables)


def build_simulation(config: CellModelConfig, roles: DesignRoles, plan: tuple[StepPlan, ...],
                     n_cycles: int, output_variables: list[str]) -> pybamm.Simulation:
    """A simulation of ``n_cycles`` repetitions of ``plan``; built on its first solve."""
    experiment = pybamm.Experiment([tuple(p.step for p in plan)] * n_cycles)
    return pybamm.Simulation(
        build_model(config), experiment=experiment, parameter_values=parameter_values(config, roles),
        solver=build_solver(config, output_variables))


def run_inputs(design: Design, protocol: Protocol, roles: DesignRoles) -> dict[str, float]:
    """The input values of one run: the design's values, the protocol's temperature if unset.

    Args:
        design: A validated design (SI).
        protocol: The protocol.
        roles: The roles of the design's variables.

    Returns:
        Input name → value, as ``Simulation.solve(inputs=...)`` takes them.
    """
    values = design.values
    temperature = values[AMBIENT_TEMPERATURE] if roles.temperature else protocol.ambient_temperature_k
    inputs = {TEMPERATURE_INPUT: float(temperature)}
    inputs.update({name: float(values[name]) for name in roles.controls})
    inputs.update({name: float(values[name]) for name in roles.parameters})
    return inputs
