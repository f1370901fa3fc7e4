"""The ``Source`` interface: anything that produces a ``Result`` for a design on request.

A source is pure: ``run`` never touches the store, is deterministic for a seed, and
reports failure as a ``Result`` with ``status=failed`` and a ``FailureKind`` rather
than raising. Executors call :func:`run_safely`, which also turns any exception a
buggy source lets escape into a failed result.
"""

from __future__ import annotations

import math
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from interphase.schema import (
    Cost,
    Design,
    DesignSpace,
    FailureKind,
    InterphaseError,
    Protocol,
    Provenance,
    Result,
    ResultStatus,
    SourceSpec,
    canonical_hash,
)


class SourceError(InterphaseError):
    """A source could not be built or configured (not a failed run)."""


@dataclass(frozen=True)
class ConditionRange:
    """The condition values a source reports its condition-indexed observables at.

    Attributes:
        unit: The observation index unit of the values, e.g. ``"K"`` for temperatures.
        values: The values it measures at, ascending (at least one).
    """

    unit: str
    values: tuple[float, ...]

    @property
    def lower(self) -> float:
        """The smallest value, in :attr:`unit`."""
        return self.values[0]

    @property
    def upper(self) -> float:
        """The largest value, in :attr:`unit`."""
        return self.values[-1]

    def contains(self, value: float) -> bool:
        """Whether ``value`` (in :attr:`unit`) lies within ``[lower, upper]``.

        Stored condition values are rounded to 6 decimals, so a unit conversion's last bits
        (``25 degC`` is 298.15000000000003 K) still count as inside.
        """
        tolerance = 1e-6 * max(1.0, abs(self.lower), abs(self.upper))
        return math.isfinite(value) and self.lower - tolerance <= value <= self.upper + tolerance

    def describe(self) -> str:
        """``"243.15 to 333.15 K"``: the range for messages."""
        return f"{self.lower:g} to {self.upper:g} {self.unit}".rstrip()


class Source(ABC):
    """Base class of every data source.

    Subclasses set :attr:`spec` (name, version, technique, fidelity, observables,
    cost model) and implement :meth:`estimate_cost` and :meth:`_run`.

    Attributes:
        spec: What the store records about this source.
        design_space: The designs this source accepts; ``run`` validates against it.
        channels: Runs a lab source takes at once; None for a source on the CPU pool.
        channels_from_world: Whether ``channels`` is the world's ``resources.lab_channels``
            (a lab source that sets none of its own).
    """

    spec: SourceSpec
    design_space: DesignSpace
    default_protocol: Protocol | None = None  # what `interphase source run` uses by default
    channels: int | None = None  # parallel capacity of a lab source; None: CPU bound
    channels_from_world: bool = False  # channels is the world's resources.lab_channels

    @property
    def name(self) -> str:
        """The registry name, e.g. ``"pybamm-spm"``."""
        return self.spec.name

    def condition_range(self) -> ConditionRange | None:
        """The conditions (e.g. temperatures) this source measures its condition-indexed observables at.

        A model's predictions of this source are only backed by data within this range.

        Returns:
            The range, or None for a source that reports per cycle only (the default).
        """
        return None

    @abstractmethod
    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """What a run will cost, known before it starts.

        Args:
            design: A design of :attr:`design_space` (values in SI).
            protocol: The protocol to run.

        Returns:
            Lab hours and CPU seconds.
        """

    @abstractmethod
    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        """Produce the result; may return a failed result, must not touch the store."""

    def run(self, design: Design, protocol: Protocol, *, seed: int) -> Result:
        """Validate the design, then run; deterministic for a given seed.

        Args:
            design: Values in SI (validated against :attr:`design_space`).
            protocol: Steps repeated for ``protocol.n_cycles`` cycles.
            seed: Seed for any randomness (noise, failures, cell-to-cell spread).

        Returns:
            A succeeded, stopped or failed result.

        Raises:
            InvalidInputError: If the design is not in the design space. Bad input is the
                caller's mistake, not a failed run, so it is raised, not returned.
        """
        checked = self.design_space.validate_design(design.values, design.label)
        return self._run(checked, protocol, seed)

    def provenance(self, design: Design, protocol: Protocol, seed: int,
                   extra: dict[str, Any] | None = None) -> Provenance:
        """Provenance for a run of this source with these inputs."""
        params = {"design": design.values, "protocol": protocol.model_dump(mode="json"),
                  "source": self.spec.model_dump(mode="json"), **(extra or {})}
        return Provenance.capture(self.spec.name, self.spec.version, params, seed=seed)

    def failed(self, design: Design, protocol: Protocol, seed: int, kind: FailureKind,
               message: str, *, cycles_run: int = 0, cost: Cost | None = None,
               observations: tuple = ()) -> Result:
        """Build a failed result that keeps whatever prefix of cycles was observed."""
        return Result(
            source=self.spec.name, design=design, protocol=protocol, status=ResultStatus.FAILED,
            failure_kind=kind, message=message, observations=observations,
            provenance=self.provenance(design, protocol, seed), cost=cost or Cost(),
            cycles_run=cycles_run,
        )


def run_safely(source: Source, design: Design, protocol: Protocol, seed: int) -> Result:
    """Run a source so that no exception escapes: anything unexpected becomes a failed result.

    Invalid input still raises (``InvalidInputError``); it is not a property of the run.

    Args:
        source: The source.
        design: The design, in SI.
        protocol: The protocol.
        seed: The seed.

    Returns:
        The source's result, or a deterministic failure carrying the exception text.
    """
    from interphase.schema import InvalidInputError

    started = time.process_time()
    try:
        return source.run(design, protocol, seed=seed)
    except InvalidInputError:
        raise
    except MemoryError as exc:
        kind, message = FailureKind.TRANSIENT, f"out of memory: {exc}"
    except Exception as exc:  # noqa: BLE001 - a source bug must not kill the executor
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        kind, message = FailureKind.DETERMINISTIC, f"{type(exc).__name__}: {exc}{where}"
    cpu = Cost(cpu_seconds=time.process_time() - started)
    return source.failed(design, protocol, seed, kind, message, cost=cpu)


def design_hash(design: Design) -> str:
    """Short stable hash of a design's values, for cache keys and seeds."""
    return canonical_hash(design.values)[:16]
