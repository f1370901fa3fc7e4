"""``PyBaMMCellSource``: a PyBaMM cell model of a world, as a :class:`~interphase.sources.Source`."""

from __future__ import annotations

import time
import warnings
from importlib.metadata import version
from typing import Any

from interphase.schema import (
    Cost,
    Design,
    FailureKind,
    Protocol,
    Result,
    ResultStatus,
    SourceSpec,
    Technique,
)
from interphase.sources.base import Source
from interphase.sources.pybamm_cell.config import (
    CellModelConfig,
    DesignRoles,
    config_from_world,
    design_roles,
)
from interphase.sources.pybamm_cell.model_cache import SIMULATIONS, SimulationCache
from interphase.sources.pybamm_cell.observables import declared_observables, observations, reference_cycle
from interphase.sources.pybamm_cell.simulator import CellSimulator
from interphase.sources.stopping import stop_outcome
from interphase.sources.world import World

MAX_WARNINGS_KEPT = 20


class PyBaMMCellSource(Source):
    """A PyBaMM cell simulation (SPM, SPMe or DFN with SEI and optional plating).

    Design variables map onto the simulation as :mod:`.experiment` describes; the
    observables per cycle are those of :mod:`.observables`. Runs never raise: a solver
    failure, an infeasible parameter or NaN gives a failed result
    (``FailureKind.DETERMINISTIC``) that keeps the cycles completed before it.
    PyBaMM is deterministic, so the seed only enters the provenance. Warnings PyBaMM
    raises during a run are kept in ``result.metadata["warnings"]`` rather than shown
    (``warnings.catch_warnings`` is process-wide: run sources in processes, not threads,
    when warnings matter); what the solver prints (SUNDIALS's errors from C, PyBaMM's log)
    is kept in ``result.metadata["solver_output"]``, and a failed run's message ends with
    the solver's first error.

    Args:
        world: The world whose design space, protocol and source settings to use.
        source_name: The registry name, a key of ``world.sources``.
        cache: Where built simulations are kept; the process-wide cache by default.

    Attributes:
        config: The source's settings from the world.
        default_protocol: The world's protocol (its horizon and steps).
    """

    def __init__(self, world: World, source_name: str, cache: SimulationCache | None = None) -> None:
        self.world = world
        self.config: CellModelConfig = config_from_world(world, source_name)
        self.design_space = world.design_space
        self.default_protocol: Protocol = world.protocol
        self.cache = cache if cache is not None else SIMULATIONS
        self.roles: DesignRoles = design_roles(world.design_space)
        self.simulator = CellSimulator(self.config, self.roles, self.cache)
        self.spec = SourceSpec(
            name=source_name,
            version=f"{self.config.version}+pybamm{version('pybamm')}.{self.config.fingerprint()}",
            technique=Technique.SIMULATION,
            fidelity=self.config.fidelity,
            observables=declared_observables(self.config.has_plating),
            cost_model={"kind": "cpu_seconds = setup_seconds + seconds_per_cycle * n_cycles",
                        **self.config.cost.model_dump(mode="json")},
        )

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """CPU seconds from the config's per-cycle cost model; no lab time.

        Args:
            design: A design of the space (its values do not change the estimate).
            protocol: The protocol; its cycle count sets the cost.

        Returns:
            ``setup_seconds + seconds_per_cycle * protocol.n_cycles`` CPU seconds.
        """
        cost = self.config.cost
        return Cost(cpu_seconds=cost.setup_seconds + cost.seconds_per_cycle * protocol.n_cycles)

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        from interphase.sources.pybamm_cell.experiment import run_inputs

        started = time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                run = self.simulator.solve(protocol.steps, run_inputs(design, protocol, self.roles),
                                           protocol.cycles_planned)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - building a model from a bad setting must not raise
                return self.failed(design, protocol, seed, FailureKind.DETERMINISTIC,
                                   f"could not build the simulation: {type(exc).__name__}: {exc}",
                                   cost=Cost(cpu_seconds=time.process_time() - started))
        cost = Cost(cpu_seconds=time.process_time() - started)
        rows = observations(run.rows, protocol.n_cycles, self.spec.observables)
        metadata = self._metadata(protocol, run.chunks, caught, run.solver_output)
        provenance = self.provenance(design, protocol, seed, self._provenance_extra())
        outcome = stop_outcome(rows, len(run.rows), protocol)
        if outcome.stopped:
            return Result(
                source=self.name, design=design, protocol=protocol, status=ResultStatus.STOPPED,
                message=outcome.reason, provenance=provenance,
                # from the kept cycles alone: retention needs its reference cycle among them
                observations=observations(run.rows[:outcome.cycles], protocol.n_cycles,
                                          self.spec.observables),
                cost=cost, cycles_run=outcome.cycles, metadata=metadata)
        if run.failure is not None:
            return Result(
                source=self.name, design=design, protocol=protocol, status=ResultStatus.FAILED,
                failure_kind=FailureKind.DETERMINISTIC, message=run.failure, observations=rows,
                provenance=provenance, cost=cost, cycles_run=len(run.rows), metadata=metadata)
        return Result(
            source=self.name, design=design, protocol=protocol, observations=rows,
            provenance=provenance, cost=cost, cycles_run=len(run.rows), metadata=metadata)

    def _provenance_extra(self) -> dict[str, Any]:
        return {"world": self.world.name, "config": self.config.model_dump(mode="json")}

    def _metadata(self, protocol: Protocol, chunks: int, caught: list[warnings.WarningMessage],
                  solver_output: list[str]) -> dict[str, Any]:
        messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
        return {
            "model": self.config.model,
            "parameter_set": self.config.parameter_set,
            "options": dict(self.config.options),
            "reference_cycle": reference_cycle(protocol.n_cycles),
            "chunks": chunks,
            "warnings": messages[:MAX_WARNINGS_KEPT],
            "solver_output": list(solver_output),
        }
