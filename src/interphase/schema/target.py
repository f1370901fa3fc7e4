"""Partial targets: what a user wants, leaving the rest free."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interphase.schema.errors import InvalidInputError
from interphase.schema.observables import OBSERVABLES


class ObservableBound(BaseModel):
    """A bound on an observable at one index (e.g. retention ≥ 0.9 at cycle 300).

    Attributes:
        observable: Registered observable name.
        at_index: Cycle number (or time, temperature) where the bound applies;
            None means the last index of the horizon.
        lower: Minimum acceptable value, canonical unit.
        upper: Maximum acceptable value, canonical unit.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    observable: str
    at_index: float | None = None
    lower: float | None = None
    upper: float | None = None

    @field_validator("observable")
    @classmethod
    def _known(cls, name: str) -> str:
        OBSERVABLES.get(name)
        return name

    @model_validator(mode="after")
    def _some_bound(self) -> ObservableBound:
        if self.lower is None and self.upper is None:
            raise InvalidInputError("lower", f"bound on {self.observable!r} needs lower or upper")
        for key in ("lower", "upper", "at_index"):
            value = getattr(self, key)
            if value is not None and not math.isfinite(value):
                raise InvalidInputError(key, f"must be finite, got {value!r}")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise InvalidInputError("upper", f"upper ({self.upper:g}) is below lower ({self.lower:g})")
        return self


class Objective(BaseModel):
    """Maximise or minimise an observable at an index."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    observable: str
    direction: Literal["maximize", "minimize"]
    at_index: float | None = None

    @field_validator("observable")
    @classmethod
    def _known(cls, name: str) -> str:
        OBSERVABLES.get(name)
        return name


class TargetSpec(BaseModel):
    """A target that may be partial; anything not named stays free.

    Attributes:
        bounds: Bounds on observables at given indices.
        objectives: Observables to optimise.
        fixed: Design variables held at a value (SI, or a quantity string).
        design_bounds: Narrower [lower, upper] for design variables, SI.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bounds: tuple[ObservableBound, ...] = ()
    objectives: tuple[Objective, ...] = ()
    fixed: dict[str, Any] = Field(default_factory=dict)
    design_bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_empty(self) -> TargetSpec:
        if not (self.bounds or self.objectives):
            raise InvalidInputError("target", "give at least one bound or one objective")
        for name, (low, high) in self.design_bounds.items():
            if not low < high:
                raise InvalidInputError(
                    f"design_bounds.{name}", f"lower ({low:g}) must be below upper ({high:g})")
        return self
