"""The design space: named variables, validation, the unit cube and Sobol sampling."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from interphase.schema.errors import InvalidInputError
from interphase.schema.limits import MAX_VARIABLES, Label
from interphase.schema.variables import (
    CategoricalVariable,
    ContinuousVariable,
    IntegerVariable,
    Variable,
)

DesignValue = float | int | str


class Design(BaseModel):
    """One point of a design space, with every value in SI.

    Attributes:
        values: Variable name → value (float in SI, int, or category name).
        label: Optional human name, e.g. the cell's barcode.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: dict[str, DesignValue]
    label: Label | None = None

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the values (not the label)."""
        return canonical_hash(self.values)


def canonical_json(payload: Any) -> str:
    """Serialise to JSON with sorted keys and no whitespace, for hashing."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def canonical_hash(payload: Any) -> str:
    """SHA-256 hex digest of :func:`canonical_json` of ``payload``."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


class DesignSpace(BaseModel):
    """An ordered set of design variables.

    The order fixes the columns of :meth:`to_unit_cube`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    variables: tuple[Variable, ...] = Field(min_length=1, max_length=MAX_VARIABLES)

    @model_validator(mode="after")
    def _unique_names(self) -> DesignSpace:
        seen: set[str] = set()
        for index, variable in enumerate(self.variables):
            if variable.name in seen:
                raise InvalidInputError(
                    f"variables.{index}.name", f"duplicate variable name {variable.name!r}"
                )
            seen.add(variable.name)
        return self

    @property
    def names(self) -> list[str]:
        """Variable names in column order."""
        return [v.name for v in self.variables]

    @property
    def dim(self) -> int:
        """Number of variables, i.e. the unit cube's dimension ``d``."""
        return len(self.variables)

    def variable(self, name: str) -> ContinuousVariable | IntegerVariable | CategoricalVariable:
        """Look a variable up by name.

        Raises:
            InvalidInputError: If no variable has that name.

        """
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise InvalidInputError(name, f"unknown variable; expected one of {', '.join(self.names)}")

    def validate_design(self, values: Mapping[str, Any], label: str | None = None) -> Design:
        """Check a design against the space and return it with coerced values.

        Args:
            values: Variable name → value in SI (categorical values are level names).
            label: Optional human name.

        Returns:
            The validated design.

        Raises:
            InvalidInputError: On an unknown name, a missing variable, a wrong type or
                an out-of-bounds value. The message names the field and what is allowed.

        """
        if not isinstance(values, Mapping):
            raise InvalidInputError(
                "design", f"expected a mapping of variable → value, got {type(values).__name__}")
        unknown = sorted(set(values) - set(self.names), key=repr)
        if unknown:
            raise InvalidInputError(
                str(unknown[0]), f"unknown variable; expected one of {', '.join(self.names)}"
            )
        missing = [n for n in self.names if n not in values]
        if missing:
            variable = self.variable(missing[0])
            raise InvalidInputError(missing[0], f"missing; expected {variable.allowed()}")
        coerced = {v.name: v.coerce(values[v.name]) for v in self.variables}
        return Design(values=coerced, label=label)

    def to_unit_cube(self, designs: Sequence[Design]) -> np.ndarray:
        """Map designs to the unit cube.

        Args:
            designs: ``n`` validated designs.

        Returns:
            Array of shape ``n x d`` in [0, 1]; log-scaled variables are mapped in log10.

        """
        cube = np.empty((len(designs), self.dim), dtype=float)
        for row, design in enumerate(designs):
            for col, variable in enumerate(self.variables):
                cube[row, col] = variable.to_unit(design.values[variable.name])  # type: ignore[arg-type]
        return cube

    def from_unit_cube(self, cube: np.ndarray) -> list[Design]:
        """Map points of the unit cube back to designs.

        Args:
            cube: Array of shape ``n x d``; values are clipped to [0, 1].

        Returns:
            ``n`` designs; integers and categories are snapped to their bins.

        Raises:
            InvalidInputError: If ``cube`` does not have ``d`` columns.

        """
        array = np.atleast_2d(np.asarray(cube, dtype=float))
        if array.shape[1] != self.dim:
            raise InvalidInputError("cube", f"expected {self.dim} columns, got {array.shape[1]}")
        return [
            Design(values={v.name: v.from_unit(float(u)) for v, u in zip(self.variables, row, strict=True)})
            for row in array
        ]

    def sample_sobol(self, n: int, seed: int) -> list[Design]:
        """Draw ``n`` designs from a scrambled Sobol sequence.

        Args:
            n: Number of designs (a power of two keeps the sequence balanced).
            seed: Seed for the scrambling.

        Returns:
            ``n`` designs that fill the space evenly.

        """
        if n < 1:
            raise InvalidInputError("n", f"must be at least 1, got {n}")
        from scipy.stats import qmc  # half a second to import; only sampling needs it

        sampler = qmc.Sobol(d=self.dim, scramble=True, seed=seed)
        m = int(np.ceil(np.log2(n)))
        return self.from_unit_cube(sampler.random_base2(m)[:n])

    def bounds_si(self) -> dict[str, tuple[float, float] | tuple[str, ...]]:
        """Bounds in SI (continuous, integer) or levels (categorical), by name."""
        out: dict[str, tuple[float, float] | tuple[str, ...]] = {}
        for variable in self.variables:
            if isinstance(variable, CategoricalVariable):
                out[variable.name] = variable.choices
            else:
                out[variable.name] = (variable.lower, variable.upper)
        return out


__all__ = [
    "CategoricalVariable",
    "ContinuousVariable",
    "Design",
    "DesignSpace",
    "IntegerVariable",
    "canonical_hash",
    "canonical_json",
]
