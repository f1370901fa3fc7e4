"""The ``Source`` interface: anything that produces a ``Result`` for a design on request.

A source is pure: ``run`` never touches the store, is deterministic for a seed, and
reports failure as a ``Result`` with ``status=failed`` and a ``FailureKind`` rather
than raising. Executors call :func:`run_safely`, which also turns any exception a
buggy source lets escape into a failed result.
"""

from __future__ import annotations

import time
import traceback
from abc import ABC, abstractmethod
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


class Source(ABC):
    """Base class of every data source.

    Subclasses set :attr:`spec` (name, version, technique, fidelity, observables,
    cost model) and implement :meth:`estimate_cost` and :meth:`_run`.

    Attributes:
        spec: What the store records about this source.
        design_space: The designs this source accepts; ``run`` validates against it.
    """

    spec: SourceSpec
    design_space: DesignSpace
    default_protocol: Protocol | None = None  # what `interphase source run` uses by default
    channels: int | None = None  # parallel capacity of a lab source; None: CPU bound

    @property
    def name(self) -> str:
        """The registry name, e.g. ``"pybamm-spm"``."""
        return self.spec.name

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
