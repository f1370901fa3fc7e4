"""Design variables: continuous, integer and categorical.

Each variable stores its bounds in SI. A user may declare bounds in any unit
pint understands (``unit: degC``); they are converted on construction and the
declared unit is kept for display.
"""

from __future__ import annotations

import math
import numbers
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from interphase.schema.errors import InvalidInputError
from interphase.schema.limits import MAX_CHOICES, Description, ShortText
from interphase.schema.units import from_si, quantity_to_si, si_unit_of, to_si

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-\. \[\]/]*$"


def _finite_float(value: numbers.Real, field: str) -> float:
    """``float(value)``, turning an overflow (a huge int) into a clear error."""
    try:
        return float(value)
    except OverflowError:
        raise InvalidInputError(field, f"{value!r} is too large to be a number here") from None


class _VariableBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120, pattern=_NAME_PATTERN)
    description: Description = ""


class ContinuousVariable(_VariableBase):
    """A real-valued variable on ``[lower, upper]``, optionally searched on a log scale.

    Attributes:
        lower: Lower bound in ``unit`` as declared; stored in SI after validation.
        upper: Upper bound, same convention.
        unit: The unit the bounds were declared in (pint syntax).
        si_unit: The SI unit values are stored in (filled in on validation).
        log_scale: Map to the unit cube through log10; needs ``lower > 0``.

    """

    kind: Literal["continuous"] = "continuous"
    lower: float
    upper: float
    unit: str = ""
    si_unit: str = ""
    log_scale: bool = False

    @model_validator(mode="before")
    @classmethod
    def _convert_to_si(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("unit"):
            return data
        expected_si = si_unit_of(str(data["unit"]), "unit") or "1"
        if data.get("si_unit"):
            # Already converted (a stored space read back): the two units must agree.
            if data["si_unit"] != expected_si:
                raise InvalidInputError(
                    "si_unit", f"{data['si_unit']!r} does not match unit {data['unit']!r} "
                    f"(its SI unit is {expected_si!r}); leave si_unit out")
            return data
        converted = dict(data)
        converted["si_unit"] = expected_si
        for key in ("lower", "upper"):
            value = data.get(key)
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                converted[key] = to_si(_finite_float(value, key), str(data["unit"]), key)
        return converted

    @model_validator(mode="after")
    def _check_bounds(self) -> ContinuousVariable:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise InvalidInputError("lower", f"variable {self.name!r}: bounds must be finite numbers")
        if not self.lower < self.upper:
            raise InvalidInputError(
                "upper",
                f"variable {self.name!r}: upper ({self.upper:g} {self.si_unit}) must be greater "
                f"than lower ({self.lower:g} {self.si_unit}), both in SI",
            )
        if self.log_scale and self.lower <= 0:
            raise InvalidInputError(
                "lower", f"variable {self.name!r}: log_scale needs lower > 0, got {self.lower:g}"
            )
        return self

    def allowed(self) -> str:
        """Describe the allowed range in the declared unit, for error messages."""
        scale = ", log scale" if self.log_scale else ""
        si_range = f"[{self.lower:g}, {self.upper:g}] {self.si_unit}".rstrip()
        if not self.unit or self.unit == self.si_unit:
            return si_range + scale
        low, high = from_si(self.lower, self.unit), from_si(self.upper, self.unit)
        return f"{si_range} in SI (= [{low:g}, {high:g}] {self.unit}){scale}"

    def coerce(self, value: Any) -> float:
        """Check a value and return it in SI as a float.

        Args:
            value: A number in SI, or a quantity string such as ``"25 degC"``.

        Raises:
            InvalidInputError: If the value is not a finite number in bounds.

        """
        if isinstance(value, str):
            value = quantity_to_si(value, self.si_unit, self.name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(self.name, f"expected a number in {self.allowed()}, got {value!r}")
        number = _finite_float(value, self.name)
        tolerance = 1e-12 * max(abs(self.lower), abs(self.upper))
        if not math.isfinite(number) or not (
            self.lower - tolerance <= number <= self.upper + tolerance
        ):
            raise InvalidInputError(self.name, f"{value!r} is outside the allowed range {self.allowed()}")
        return min(max(number, self.lower), self.upper)

    def to_unit(self, value: float) -> float:
        """Map an SI value to [0, 1]."""
        if self.log_scale:
            low, high = math.log10(self.lower), math.log10(self.upper)
            return (math.log10(value) - low) / (high - low)
        return (value - self.lower) / (self.upper - self.lower)

    def from_unit(self, u: float) -> float:
        """Map a coordinate in [0, 1] back to an SI value."""
        u = min(max(u, 0.0), 1.0)
        if self.log_scale:
            low, high = math.log10(self.lower), math.log10(self.upper)
            return min(max(10 ** (low + u * (high - low)), self.lower), self.upper)
        return min(max(self.lower + u * (self.upper - self.lower), self.lower), self.upper)


class IntegerVariable(_VariableBase):
    """An integer variable on ``[lower, upper]`` inclusive (a count, a number of cycles)."""

    kind: Literal["integer"] = "integer"
    lower: int
    upper: int
    unit: str = ""

    @model_validator(mode="after")
    def _check_bounds(self) -> IntegerVariable:
        if not self.lower < self.upper:
            raise InvalidInputError(
                "upper", f"variable {self.name!r}: upper ({self.upper}) must be greater than lower "
                f"({self.lower})"
            )
        return self

    def allowed(self) -> str:
        """Describe the allowed range, for error messages."""
        return f"integers in [{self.lower}, {self.upper}] {self.unit}".rstrip()

    def coerce(self, value: Any) -> int:
        """Check a value and return it as an int.

        Raises:
            InvalidInputError: If the value is not an integer in bounds.

        """
        if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
            if math.isfinite(float(value)) and float(value).is_integer():
                value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidInputError(self.name, f"expected {self.allowed()}, got {value!r}")
        if not self.lower <= value <= self.upper:
            raise InvalidInputError(self.name, f"{value!r} is outside the allowed range {self.allowed()}")
        return int(value)

    def to_unit(self, value: float) -> float:
        """Map a value to [0, 1]; each integer owns an equal-width bin."""
        return (value - self.lower + 0.5) / (self.upper - self.lower + 1)

    def from_unit(self, u: float) -> int:
        """Map a coordinate in [0, 1] back to the integer whose bin contains it."""
        u = min(max(u, 0.0), 1.0)
        return min(self.lower + int(u * (self.upper - self.lower + 1)), self.upper)


class CategoricalVariable(_VariableBase):
    """A choice among named levels (an additive, a formation protocol)."""

    kind: Literal["categorical"] = "categorical"
    choices: tuple[ShortText, ...] = Field(min_length=2, max_length=MAX_CHOICES)

    @model_validator(mode="after")
    def _check_choices(self) -> CategoricalVariable:
        if len(set(self.choices)) != len(self.choices):
            raise InvalidInputError("choices", f"variable {self.name!r}: choices must be distinct")
        return self

    def allowed(self) -> str:
        """Describe the allowed levels, for error messages."""
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def coerce(self, value: Any) -> str:
        """Check a value and return it.

        Raises:
            InvalidInputError: If the value is not one of the choices.

        """
        if not isinstance(value, str) or value not in self.choices:
            raise InvalidInputError(self.name, f"{value!r} is not allowed; expected {self.allowed()}")
        return value

    def to_unit(self, value: str) -> float:
        """Map a level to the centre of its equal-width bin in [0, 1]."""
        return (self.choices.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> str:
        """Map a coordinate in [0, 1] back to the level whose bin contains it."""
        u = min(max(u, 0.0), 1.0)
        return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]


Variable = Annotated[
    ContinuousVariable | IntegerVariable | CategoricalVariable, Field(discriminator="kind")
]
