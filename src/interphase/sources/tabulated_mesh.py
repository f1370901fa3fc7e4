"""Piecewise-linear interpolation over the simplices of measured points.

Why linear on a Delaunay triangulation rather than radial basis functions: the value at a
measured point is the measurement itself; between points it is a convex combination of
the measurements at the enclosing simplex's corners, so it never leaves their range (no
overshoot, no invented optimum between two noisy replicates); and the triangulation's
convex hull is exactly where the data say something. An RBF either reproduces the points
and oscillates through replicate noise, or smooths and stops returning the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interphase.schema import InvalidInputError

HULL_TOLERANCE = 1e-9  # in unit-cube coordinates: points on a hull facet count as inside


@dataclass(frozen=True)
class Support:
    """Where a point sits among the measured points.

    Attributes:
        vertices: Indices of the measured points of the enclosing simplex, shape ``d + 1``
            (``2`` in one dimension).
        weights: Barycentric weights, non-negative, summing to one, same shape.
    """

    vertices: np.ndarray
    weights: np.ndarray


class LinearMesh:
    """Measured points in the unit cube, triangulated once.

    Args:
        points: Measured designs mapped to the unit cube, shape ``n x d``, distinct rows.

    Raises:
        InvalidInputError: If the points span fewer than ``d`` dimensions (all on one
            line in 2-D, for instance), so that no simplex can be formed.
    """

    def __init__(self, points: np.ndarray) -> None:
        self.points = np.asarray(points, dtype=float)
        self.dim = self.points.shape[1]
        if self.dim == 1:
            self._order = np.argsort(self.points[:, 0])
            return
        from scipy.spatial import ConvexHull, Delaunay, QhullError

        try:
            self._triangulation = Delaunay(self.points)
            self._facets = ConvexHull(self.points).equations  # rows (normal, offset): n.x + b <= 0
        except QhullError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "degenerate"
            raise InvalidInputError(
                "design", f"{len(self.points)} measured designs do not span {self.dim} dimensions "
                f"(need at least {self.dim + 1} not on one hyperplane): {first}") from None

    def locate(self, x: np.ndarray) -> Support | None:
        """The enclosing simplex of ``x`` and its barycentric weights.

        Args:
            x: A point of the unit cube, shape ``d``.

        Returns:
            The support, or None if ``x`` is outside the convex hull of the points.
        """
        if self.dim == 1:
            ordered = self.points[self._order, 0]
            value = float(x[0])
            if not ordered[0] - HULL_TOLERANCE <= value <= ordered[-1] + HULL_TOLERANCE:
                return None
            right = int(np.clip(np.searchsorted(ordered, value), 1, len(ordered) - 1))
            low, high = ordered[right - 1], ordered[right]
            share = float(np.clip((value - low) / (high - low), 0.0, 1.0))
            return Support(self._order[[right - 1, right]], np.array([1.0 - share, share]))
        simplex = int(self._triangulation.find_simplex(x, tol=HULL_TOLERANCE))
        if simplex < 0:
            return None
        transform = self._triangulation.transform[simplex]
        partial = transform[: self.dim] @ (x - transform[self.dim])
        weights = np.clip(np.append(partial, 1.0 - partial.sum()), 0.0, None)
        return Support(self._triangulation.simplices[simplex].copy(), weights / weights.sum())

    def section(self, x: np.ndarray, axis: int) -> tuple[float, float] | None:
        """The stretch of the line through ``x`` along ``axis`` that lies in the hull.

        Args:
            x: A point of the unit cube, shape ``d``.
            axis: Which coordinate varies.

        Returns:
            The (low, high) unit-cube coordinates of the hull's section, or None if the
            line misses the hull (another coordinate is already outside).
        """
        if self.dim == 1:
            return float(self.points[:, 0].min()), float(self.points[:, 0].max())
        normals, offsets = self._facets[:, :-1], self._facets[:, -1]
        fixed = x.copy()
        fixed[axis] = 0.0
        slack = -(normals @ fixed + offsets) + HULL_TOLERANCE  # need normals[:, axis] * t <= slack
        slope = normals[:, axis]
        flat = np.abs(slope) < 1e-15
        if np.any(slack[flat] < 0):
            return None
        upper = np.min(slack[slope > 1e-15] / slope[slope > 1e-15], initial=np.inf)
        lower = np.max(slack[slope < -1e-15] / slope[slope < -1e-15], initial=-np.inf)
        if lower > upper:
            return None
        return float(max(lower, 0.0)), float(min(upper, 1.0))
