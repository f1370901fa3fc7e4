"""Trial and error: Sobol designs of the target's region, full-length tests at the highest fidelity only.

The benchmark's first baseline (``docs`` BENCHMARKS, "Baselines"): what a lab does without
a model. Designs come from one scrambled Sobol sequence of the target's region (its design
bounds, with its fixed values held), seeded by the campaign's seed; the k-th design launched
is the k-th point of the sequence, so the campaign is reproducible and resumes where it
stopped. Nothing runs anywhere but on the highest-fidelity source, always for the world's
whole protocol.

:class:`TargetRegion` (the region as a unit cube of its own) and :func:`sobol_options` are
shared with the BoTorch baselines, which start from the same sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interphase.agent.options import Option, Proposal, ScoredOption
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CPU, CampaignView
from interphase.schema import Design, DesignSpace, InvalidInputError, TargetSpec

#: Two designs closer than this in every region coordinate count as the same design.
SAME_DESIGN_TOLERANCE = 1e-9

#: Keys of a run configuration's ``agent:`` block that the engine reads, not the strategy (none now:
#: the review interval is the strategy's own ``review_every_cycles``).
ENGINE_SETTINGS: frozenset[str] = frozenset()


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


def launched_on(view: CampaignView, source: str) -> list[Design]:
    """Designs of the region launched on ``source`` (finished or running, replicates too), in launch order."""
    return [run.design for run in view.runs_of(source, running=True) if view.check.in_region(run.design)]


def sobol_options(view: CampaignView, region: TargetRegion, source: str, slots: int,
                  taken: np.ndarray, why: str) -> list[ScoredOption]:
    """The next ``slots`` Sobol designs of the region for full-length runs of ``source``.

    The k-th design launched on ``source`` (not counting replicates) is the sequence's
    k-th point; points equal to a design in ``taken`` are skipped.

    Args:
        view: The campaign now.
        region: The target's region.
        source: The source to run them on.
        slots: How many to propose (>= 1).
        taken: ``n x d`` region coordinates not to repeat (launched or already chosen).
        why: The few words each option carries.

    Returns:
        At most ``slots`` options (fewer only for a region without free variables).
    """
    start = sum(1 for run in view.runs_of(source, running=True) if run.replicate_of is None)
    if region.dim == 0:
        design = region.from_region(np.empty((1, 0)))[0]
        done = any(run.design.values == design.values for run in view.runs_of(source, running=True))
        return [] if done else [_unscored(view, source, design, why)]
    chosen: list[int] = []
    stop = start + slots
    while len(chosen) < slots:
        points = region.sobol(stop, view.seed)
        chosen = []
        for index in range(start, stop):
            if is_new(points[index], taken) and is_new(points[index], points[chosen]):
                chosen.append(index)
            if len(chosen) == slots:
                break
        stop *= 2
    designs = region.from_region(points[chosen])
    return [_unscored(view, source, design, f"{why} #{index + 1}")
            for index, design in zip(chosen, designs, strict=True)]


def _unscored(view: CampaignView, source: str, design: Design, why: str) -> ScoredOption:
    cost = view.estimate_cost(source, design, view.protocol)
    hours = cost.lab_hours if view.resource_of[source] != CPU else cost.cpu_seconds / 3600.0
    return ScoredOption(option=Option(source=source, design=design, protocol=view.protocol),
                        value=0.0, cost=hours, utility=0.0, why=why)


class TrialAndError(Strategy):
    """Sobol designs of the target's region, full-length, on the highest-fidelity source.

    No settings. Deterministic: the same view gives the same proposal.
    """

    name = "trial-and-error"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        unknown = sorted(set(self.settings) - ENGINE_SETTINGS)
        if unknown:
            raise InvalidInputError(f"agent.{unknown[0]}", f"{self.name!r} takes no settings")

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        """The next Sobol designs for the highest-fidelity source's resource; None elsewhere."""
        source = view.highest_fidelity
        if resource != view.resource_of[source] or slots < 1:
            return None
        region = TargetRegion.of(view.design_space, view.target)
        taken = region.to_region(launched_on(view, source))
        chosen = sobol_options(view, region, source, slots, taken, "Sobol point")
        if not chosen:
            return None
        return Proposal(chosen=tuple(chosen),
                        reason=f"trial and error: next {len(chosen)} Sobol designs of the target region, "
                        f"{view.protocol.n_cycles}-cycle {source} tests",
                        scores={"strategy": self.name})


register_strategy(TrialAndError.name, TrialAndError)
