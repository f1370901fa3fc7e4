"""Cycling protocols as PyBaMM Experiment step strings."""

from __future__ import annotations

import math
import os

from pydantic import BaseModel, ConfigDict, Field, field_validator

from interphase.schema.errors import InvalidInputError


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


class Protocol(BaseModel):
    """A cycling protocol: the steps of one cycle, repeated ``n_cycles`` times.

    Attributes:
        steps: One cycle as PyBaMM Experiment strings, e.g.
            ``["Charge at 1C until 4.2 V", "Hold at 4.2 V until C/50",
            "Discharge at 1C until 2.5 V"]``.
        n_cycles: How many times the cycle is repeated.
        ambient_temperature_k: Ambient (chamber) temperature in kelvin.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[str, ...] = Field(min_length=1)
    n_cycles: int = Field(ge=1, le=100_000)
    ambient_temperature_k: float = Field(gt=150.0, lt=500.0, allow_inf_nan=False)

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

    def experiment_steps(self) -> list[tuple[str, ...]]:
        """The steps in the shape ``pybamm.Experiment`` takes: one tuple per cycle."""
        return [self.steps] * self.n_cycles
