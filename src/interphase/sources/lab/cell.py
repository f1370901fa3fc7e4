"""One emulated cell under test: built with its own spread, maybe defective, cycled on the truth model.

:class:`EmulatedLab` is shared by the ``lab-cell`` and ``post-mortem`` sources: the same
design, protocol and seed give the same cell, so a post-mortem examines the cell a
lab-cell test cycled. Randomness comes from four independent streams seeded by the
seed and the design (the cell, capacity noise, resistance noise, the post-mortem), so a
test stopped at cycle k reports exactly the first k cycles of the full test.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from interphase.schema import (
    OBSERVABLES,
    Design,
    DesignSpace,
    FailureKind,
    Observation,
    Protocol,
    ResultStatus,
    canonical_json,
)
from interphase.sources.base import SourceError, design_hash
from interphase.sources.lab.truth import LabTruth
from interphase.sources.pybamm_cell.config import (
    AMBIENT_TEMPERATURE,
    PROTOCOL_CONTROLS,
    DesignRoles,
    design_roles,
)
from interphase.sources.pybamm_cell.model_cache import SIMULATIONS, SimulationCache
from interphase.sources.pybamm_cell.observables import (
    CAPACITY,
    CYCLE_DURATION,
    RESISTANCE,
    RETENTION,
    SEI_THICKNESS,
    reference_cycle,
)
from interphase.sources.pybamm_cell.simulator import CellSimulator
from interphase.sources.stopping import stop_outcome

PLATED_CAPACITY = "Loss of capacity to negative lithium plating [A.h]"
ASSEMBLY_DEFECT = "assembly defect"
SHORT_CIRCUIT = "short circuit"
CELL_FAILURE = "cell failure"
DEFECT_MESSAGE = "the cell failed formation (assembly defect); a new cell may pass"
LAB_OBSERVABLES = (CAPACITY, RETENTION, RESISTANCE)
SECONDS_PER_HOUR = 3600.0
_TESTS_KEPT = 256


@dataclass(frozen=True)
class CellTest:
    """A cell's test as the lab saw it.

    Attributes:
        cell_id: Names the cell (from the design and seed; reveals nothing hidden).
        status: Succeeded, stopped early by the protocol's rule, or failed.
        cycles: Cycles completed and reported.
        observed: What the cycler reports per cycle: capacity, retention, resistance.
        cycle_hours: Hours of cycling, the cycle a cell failed in included.
        failure_kind: For a failed test.
        failure_cause: ``"assembly defect"``, ``"short circuit"`` or ``"cell failure"``.
        message: Why the test ended early, for people.
        formed: Whether the cell passed formation.
        sei_thickness_m: The true SEI thickness after the last reported cycle (hidden; only
            the post-mortem's noisy measurement of it leaves the lab).
        emulator_cpu_seconds: CPU time the emulation took.
    """

    cell_id: str
    status: ResultStatus
    cycles: int
    observed: tuple[Observation, ...]
    cycle_hours: float
    failure_kind: FailureKind | None
    failure_cause: str | None
    message: str
    formed: bool
    sei_thickness_m: float | None
    emulator_cpu_seconds: float


class EmulatedLab:
    """Cells of one hidden truth over one design space.

    Args:
        truth: The hidden truth.
        space: The designs the lab builds.
        cache: Where the truth model's built simulations are kept.
    """

    def __init__(self, truth: LabTruth, space: DesignSpace, cache: SimulationCache | None = None) -> None:
        self.truth = truth
        self.space = space
        roles = design_roles(space)
        fixed = set(roles.controls) | {AMBIENT_TEMPERATURE}
        for field, names in (("parameter_factors", truth.parameter_factors),
                             ("cell_spread.parameters", truth.cell_spread.parameters)):
            for name in names:
                if name in fixed or name in PROTOCOL_CONTROLS:
                    raise SourceError(f"truth.{field}: {name!r} is a protocol setting, not a cell parameter; "
                                      "offsets and spread apply to parameters of the parameter set")
        offset_or_spread = set(truth.parameter_factors) | set(truth.cell_spread.parameters)
        extra = sorted(offset_or_spread - set(roles.parameters))
        self.design_roles = roles
        self.extra_parameters = tuple(extra)
        self.truth_roles = DesignRoles(temperature=roles.temperature, controls=roles.controls,
                                       parameters=roles.parameters + self.extra_parameters,
                                       rate_floors=roles.rate_floors)
        config = truth.simulator.cell_model()
        threshold = truth.failures.short_circuit_plated_capacity_ah
        if threshold is not None and not config.has_plating:
            raise SourceError("truth.failures.short_circuit_plated_capacity_ah needs a truth simulator with "
                              "'lithium plating' in its options")
        self.simulator = CellSimulator(config, self.truth_roles, cache if cache is not None else SIMULATIONS,
                                       extra_variables=(PLATED_CAPACITY,) if config.has_plating else ())
        self._tests: OrderedDict[str, CellTest] = OrderedDict()
        self._lock = threading.Lock()

    def test(self, design: Design, protocol: Protocol, seed: int) -> CellTest:
        """Build the cell of ``(design, seed)`` and cycle it through ``protocol``.

        Args:
            design: A validated design (SI).
            protocol: The protocol, its stop rule included.
            seed: Picks the cell: its defects, spread and noise.

        Returns:
            The test; the same inputs give the same test (kept in a small cache).
        """
        key = canonical_json({"design": design.values, "protocol": protocol.model_dump(mode="json"),
                              "seed": seed})
        with self._lock:
            if key in self._tests:
                self._tests.move_to_end(key)
                return self._tests[key]
        test = self._run(design, protocol, seed)
        with self._lock:
            self._tests[key] = test
            while len(self._tests) > _TESTS_KEPT:
                self._tests.popitem(last=False)
        return test

    def streams(self, design: Design, seed: int) -> list[np.random.Generator]:
        """The four random streams of a cell: build, capacity noise, resistance noise, post-mortem."""
        entropy = [int(seed) % 2**63, int(design_hash(design), 16)]
        return [np.random.default_rng(child) for child in np.random.SeedSequence(entropy).spawn(4)]

    def _run(self, design: Design, protocol: Protocol, seed: int) -> CellTest:
        from interphase.sources.pybamm_cell.experiment import run_inputs

        started = time.process_time()
        cell_id = f"cell-{design_hash(design)[:8]}-{seed}"
        build = self.streams(design, seed)[0]
        defective = build.random() < self.truth.failures.assembly_defect_rate
        spread_spec = self.truth.cell_spread
        spread = build.lognormal(0.0, spread_spec.sigma, size=len(spread_spec.parameters))
        if defective:
            return CellTest(cell_id, ResultStatus.FAILED, 0, (), 0.0, FailureKind.DETERMINISTIC,
                            ASSEMBLY_DEFECT, DEFECT_MESSAGE,
                            False, None, time.process_time() - started)
        inputs = run_inputs(design, protocol, self.design_roles)
        inputs.update({name: self._base_values[name] for name in self.extra_parameters})
        for name, factor in self.truth.parameter_factors.items():
            inputs[name] *= factor
        for name, factor in zip(self.truth.cell_spread.parameters, spread, strict=True):
            inputs[name] *= float(factor)
        run = self.simulator.solve(protocol.steps, inputs, protocol.cycles_planned)
        rows = run.rows
        completed, failure = len(rows), None
        threshold = self.truth.failures.short_circuit_plated_capacity_ah
        shorted = next((i for i, row in enumerate(rows) if threshold is not None
                        and row.get(PLATED_CAPACITY, 0.0) >= threshold), None)
        if shorted is not None:
            completed = shorted
            failure = (SHORT_CIRCUIT, f"internal short circuit during cycle {shorted + 1}; the cell is lost")
        elif run.failure is not None:
            failure = (CELL_FAILURE, f"the cell could not complete cycle {completed + 1} "
                       f"(emulator: {run.failure})")
        observed = self._observe(rows[:completed], protocol.n_cycles, design, seed)
        outcome = stop_outcome(observed, completed, protocol)
        durations = [row[CYCLE_DURATION] / SECONDS_PER_HOUR for row in rows]
        cpu = time.process_time() - started
        if outcome.stopped:
            kept = outcome.cycles
            # Reported from the kept cycles alone: retention needs its reference cycle among them.
            kept_observed = self._observe(rows[:kept], protocol.n_cycles, design, seed)
            return CellTest(cell_id, ResultStatus.STOPPED, kept, kept_observed,
                            sum(durations[:kept]), None, None, outcome.reason, True,
                            rows[kept - 1][SEI_THICKNESS] if kept else None, cpu)
        if failure is not None:
            cause, message = failure
            charged = completed + 1 if cause == SHORT_CIRCUIT else completed
            return CellTest(cell_id, ResultStatus.FAILED, completed, observed, sum(durations[:charged]),
                            FailureKind.DETERMINISTIC, cause, message, True, None, cpu)
        return CellTest(cell_id, ResultStatus.SUCCEEDED, completed, observed, sum(durations), None, None, "",
                        True, rows[-1][SEI_THICKNESS] if rows else None, cpu)

    def _observe(self, rows: list[dict[str, float]], n_cycles: int, design: Design,
                 seed: int) -> tuple[Observation, ...]:
        """What the cycler reports: noisy capacity and resistance, retention from the noisy capacity."""
        _, capacity_noise, resistance_noise, _ = self.streams(design, seed)
        noise = self.truth.noise
        capacity = [row[CAPACITY] * (1.0 + noise.capacity_relative * e)
                    for row, e in zip(rows, capacity_noise.standard_normal(len(rows)), strict=True)]
        resistance_draws = resistance_noise.standard_normal(len(rows))
        reference = reference_cycle(n_cycles)
        reference_capacity = capacity[reference - 1] if len(capacity) >= reference else 0.0
        out: list[Observation] = []
        for cycle, value in enumerate(capacity, start=1):
            out.append(_observation(CAPACITY, cycle, value))
        if reference_capacity > 0.0:
            for cycle, value in enumerate(capacity, start=1):
                out.append(_observation(RETENTION, cycle, value / reference_capacity))
        for cycle, (row, e) in enumerate(zip(rows, resistance_draws, strict=True), start=1):
            if RESISTANCE in row:
                value = row[RESISTANCE] * (1.0 + noise.resistance_relative * e)
                out.append(_observation(RESISTANCE, cycle, value))
        return tuple(out)

    @cached_property
    def _base_values(self) -> dict[str, float]:
        """Set values of the parameters the truth offsets or spreads but the design does not set."""
        import pybamm

        values = pybamm.ParameterValues(self.truth.simulator.parameter_set)
        values.update(dict(self.truth.simulator.parameters), check_already_exists=False)
        out: dict[str, float] = {}
        for name in self.extra_parameters:
            if name not in values.keys():
                raise SourceError(
                    f"truth: {name!r} is not a parameter of {self.truth.simulator.parameter_set!r}")
            value = values[name]
            if not isinstance(value, int | float):
                raise SourceError(f"truth: {name!r} is a function in {self.truth.simulator.parameter_set!r}; "
                                  "only numeric parameters can be offset or spread")
            out[name] = float(value)
        return out


def _observation(name: str, cycle: int, value: float) -> Observation:
    return Observation(observable=name, index=float(cycle), index_unit="cycle", value=float(value),
                       unit=OBSERVABLES.get(name).unit)
