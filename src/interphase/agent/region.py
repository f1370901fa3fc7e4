"""The part of a design space a target allows, as a unit cube of its own: what every strategy searches.

A target's design bounds (e.g. charge at 1.5C or faster) and fixed values cut the design space
down; :class:`TargetRegion` maps that region to ``[0, 1]^d`` over its free variables (log-scaled
variables stay log-scaled), draws its scrambled Sobol sequence, and maps points back to
validated designs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interphase.schema import Design, DesignSpace, InvalidInputError, TargetSpec

#: Two designs closer than this in every region coordinate count as the same design.
SAME_DESIGN_TOLERANCE = 1e-9


@dataclass(frozen=True)
class TargetRegion:
    """The part of a design space a target allows, mapped onto a unit cube of its own.

    Each free variable (not fixed by the target) is one coordinate: ``0`` is its lower
    bound (the target's design bound where it gives one, else the space's), ``1`` its upper
    bound, linear in the space's unit cube (so log-scaled variables stay log-scaled).

    Attributes:
        space: The campaign's design space.
        free: Names of the free variables, in the space's column order (``d`` of them).
        lower_u: ``d`` lower bounds of the region in the space's unit cube.
        upper_u: ``d`` upper bounds of the region in the space's unit cube.
        bounds_si: Name -> SI ``(low, high)`` the region's designs must respect.
        fixed: Name -> the value the target holds it at (SI, coerced).
    """

    space: DesignSpace
    free: tuple[str, ...]
    lower_u: np.ndarray
    upper_u: np.ndarray
    bounds_si: dict[str, tuple[float, float]]
    fixed: dict[str, Any]

    @classmethod
    def of(cls, space: DesignSpace, target: TargetSpec) -> TargetRegion:
        """The region of ``space`` that ``target`` allows.

        Raises:
            InvalidInputError: If the target fixes or bounds an unknown variable, or bounds
                a categorical one.
        """
        fixed = {name: space.variable(name).coerce(value) for name, value in target.fixed.items()}
        free, lower, upper, bounds = [], [], [], {}
        for variable in space.variables:
            if variable.name in fixed:
                continue
            low_u, high_u = 0.0, 1.0
            if variable.name in target.design_bounds:
                if not hasattr(variable, "lower"):
                    raise InvalidInputError(f"design_bounds.{variable.name}",
                                            "only numeric variables take bounds")
                low, high = (float(v) for v in target.design_bounds[variable.name])
                low, high = max(low, float(variable.lower)), min(high, float(variable.upper))
                bounds[variable.name] = (low, high)
                low_u, high_u = variable.to_unit(low), variable.to_unit(high)  # type: ignore[arg-type]
            free.append(variable.name)
            lower.append(low_u)
            upper.append(high_u)
        return cls(space=space, free=tuple(free), lower_u=np.asarray(lower, dtype=float),
                   upper_u=np.asarray(upper, dtype=float), bounds_si=bounds, fixed=fixed)

    @property
    def dim(self) -> int:
        """Number of free variables, ``d``."""
        return len(self.free)

    def to_region(self, designs: Sequence[Design]) -> np.ndarray:
        """Region coordinates of designs: ``n x d`` (inside ``[0, 1]`` for designs of the region)."""
        if not designs:
            return np.empty((0, self.dim))
        cube = self.space.to_unit_cube(list(designs))
        columns = [self.space.names.index(name) for name in self.free]
        return (cube[:, columns] - self.lower_u) / (self.upper_u - self.lower_u)

    def cube_to_region(self, x: Any) -> Any:
        """Region coordinates of points of the space's unit cube: ``... x D`` -> ``... x d``.

        Takes a NumPy array or a torch tensor and returns the same kind (a BoTorch acquisition's
        ``batch x q x D`` inputs, say).
        """
        columns = [self.space.names.index(name) for name in self.free]
        if isinstance(x, np.ndarray):
            return (x[..., columns] - self.lower_u) / (self.upper_u - self.lower_u)
        lower = x.new_tensor(self.lower_u)
        return (x[..., columns] - lower) / (x.new_tensor(self.upper_u) - lower)

    def from_region(self, z: np.ndarray) -> list[Design]:
        """Designs at region coordinates ``z`` (``n x d``, clipped to ``[0, 1]``), validated, SI."""
        z = np.clip(np.atleast_2d(np.asarray(z, dtype=float)).reshape(-1, self.dim), 0.0, 1.0)
        designs = []
        for row in z:
            values: dict[str, Any] = dict(self.fixed)
            for name, u in zip(self.free, self.lower_u + row * (self.upper_u - self.lower_u), strict=True):
                value = self.space.variable(name).from_unit(float(u))
                if name in self.bounds_si:  # the round trip through the cube must not leave the bounds
                    low, high = self.bounds_si[name]
                    value = min(max(value, low), high)  # type: ignore[type-var, assignment]
                values[name] = value
            designs.append(self.space.validate_design(values))
        return designs

    def sobol(self, stop: int, seed: int) -> np.ndarray:
        """The first ``stop`` points of the region's scrambled Sobol sequence, ``stop x d``.

        The sequence depends on ``seed`` only, so its prefix never changes as it grows.
        """
        if self.dim == 0:
            return np.empty((stop, 0))
        from scipy.stats import qmc

        m = max(0, math.ceil(math.log2(max(stop, 1))))  # a power of two keeps scipy quiet and balanced
        return qmc.Sobol(d=self.dim, scramble=True, seed=seed).random_base2(m)[:stop]


def is_new(z: np.ndarray, taken: np.ndarray) -> bool:
    """Whether region point ``z`` (``d``) differs from every row of ``taken`` (``n x d``)."""
    if taken.shape[0] == 0:
        return True
    return bool((np.abs(taken - z).max(axis=1) > SAME_DESIGN_TOLERANCE).all())
