"""Cycling protocols as PyBaMM Experiment step strings."""

from __future__ import annotations

import math
import os

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interphase.schema.errors import InvalidInputError
from interphase.schema.limits import MAX_STEPS, ShortText


def _check_step(step: str, index: int) -> str:
    """Parse one step with PyBaMM's own parser so that every stored protocol can run."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    import pybamm  # heavy: imported only when a protocol is validated

    try:
        pybamm.step.string(step)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first_line = first_line.removesuffix(" For example:").rstrip(" :")
        raise InvalidInputError(
            f"steps.{index}",
            f"{step!r} is not a PyBaMM experiment step ({first_line}); "
            "e.g. 'Charge at 1C until 4.2 V', 'Discharge at 0.5C until 2.5 V', 'Rest for 10 minutes'",
        ) from None
    return step


class StopRule(BaseModel):
    """When to end a test before the protocol's last cycle.

    A test stops after cycle ``at_cycle``, or after the first cycle whose reported
    ``observable`` falls below ``below`` (or rises above ``above``), whichever comes
    first. The result keeps the cycles run, its status is ``stopped``, and it costs only
    the time those cycles took.

    Attributes:
        at_cycle: Last cycle to run (1-based), or None.
        observable: A per-cycle observable the source reports, e.g. ``"Capacity retention"``.
        below: Stop once ``observable`` is below this value (canonical unit).
        above: Stop once ``observable`` is above this value (canonical unit).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    at_cycle: int | None = Field(default=None, ge=1, le=100_000)
    observable: str | None = Field(default=None, min_length=1, max_length=200)
    below: float | None = Field(default=None, allow_inf_nan=False)
    above: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_rule(self) -> StopRule:
        has_threshold = self.below is not None or self.above is not None
        if self.observable is None and has_threshold:
            raise InvalidInputError("observable",
                                    "a 'below' or 'above' threshold needs the observable it applies to")
        if self.observable is not None:
            from interphase.schema.observables import OBSERVABLES

            if self.observable not in OBSERVABLES:
                raise InvalidInputError("observable", f"unknown observable {self.observable!r}; "
                                        f"expected one of {', '.join(OBSERVABLES.names)}")
            if not has_threshold:
                raise InvalidInputError("below", f"give 'below' or 'above' for {self.observable!r}")
            if self.below is not None and self.above is not None:
                raise InvalidInputError("above", "give either 'below' or 'above', not both")
        if self.at_cycle is None and self.observable is None:
            raise InvalidInputError("at_cycle",
                                    "a stop rule needs 'at_cycle' or an observable with a threshold")
        return self

    def crossed(self, value: float) -> bool:
        """Whether a reported value of :attr:`observable` meets the stop condition."""
        if self.below is not None and value < self.below:
            return True
        return self.above is not None and value > self.above

    def describe(self) -> str:
        """The rule in words, e.g. ``"at cycle 20"`` or ``"when Capacity retention < 0.8"``."""
        parts = [f"at cycle {self.at_cycle}"] if self.at_cycle is not None else []
        if self.observable is not None:
            sign, value = ("<", self.below) if self.below is not None else (">", self.above)
            parts.append(f"when {self.observable} {sign} {value:g}")
        return " or ".join(parts)


class Protocol(BaseModel):
    """A cycling protocol: the steps of one cycle, repeated ``n_cycles`` times.

    Attributes:
        steps: One cycle as PyBaMM Experiment strings, e.g.
            ``["Charge at 1C until 4.2 V", "Hold at 4.2 V until C/50",
            "Discharge at 1C until 2.5 V"]``.
        n_cycles: How many times the cycle is repeated.
        ambient_temperature_k: Ambient (chamber) temperature in kelvin.
        stop: When to end the test early, or None to run every cycle. Sources that
            cycle honour it; the result then has status ``stopped``.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[ShortText, ...] = Field(min_length=1, max_length=MAX_STEPS)
    n_cycles: int = Field(ge=1, le=100_000)
    ambient_temperature_k: float = Field(gt=150.0, lt=500.0, allow_inf_nan=False)
    stop: StopRule | None = None

    @field_validator("steps")
    @classmethod
    def _parse_steps(cls, steps: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_step(step, index) for index, step in enumerate(steps))

    @field_validator("ambient_temperature_k")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite temperature in K")
        return value

    @property
    def cycles_planned(self) -> int:
        """Cycles the test runs unless a condition stops it sooner: ``n_cycles`` or ``stop.at_cycle``."""
        if self.stop is not None and self.stop.at_cycle is not None:
            return min(self.n_cycles, self.stop.at_cycle)
        return self.n_cycles

    def experiment_steps(self) -> list[tuple[str, ...]]:
        """The steps in the shape ``pybamm.Experiment`` takes: one tuple per cycle."""
        return [self.steps] * self.n_cycles
