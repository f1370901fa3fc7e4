"""Solve a protocol's cycles in chunks, each chunk continuing from the last state of the one before.

Only per-cycle values leave a chunk: its solution is dropped once they are read, and the
next chunk starts from ``solution.last_state``. With the solver keeping only the few
variables the observables need, memory stays bounded by one chunk whatever the horizon.
Every step is a separate solver call from the previous state either way, so chunks of
one length (one cached simulation) reproduce a single solve bit for bit. A shorter last
chunk is another simulation; its first step starts from a state of the other one without
a compiled state mapper between them, which moves results by about 1e-13 relative.

A run that stops early (a solver error, a cut-off never reached, a safety event, NaN)
keeps the cycles it completed and says why it stopped; nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pybamm

from interphase.sources.pybamm_cell.experiment import StepPlan
from interphase.sources.pybamm_cell.model_cache import CachedSimulation
from interphase.sources.pybamm_cell.readout import NonFiniteValueError, cycle_values, solved

MAX_MESSAGE_CHARS = 400


@dataclass
class CycleRun:
    """What a run produced.

    Attributes:
        rows: Observable values of each completed cycle, cycle 1 first.
        failure: Why the run stopped before the last cycle, or None.
        chunks: Solver calls made.
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    failure: str | None = None
    chunks: int = 0


class _ExperimentRecorder(pybamm.callbacks.LoggingCallback):
    """Keeps PyBaMM's experiment errors for the result instead of printing them.

    Subclassing ``LoggingCallback`` stops PyBaMM from adding its printing one.
    """

    def __init__(self) -> None:
        self.logfile = None
        self.logger = pybamm.logger
        self.problems: list[str] = []

    def on_experiment_start(self, logs: dict[str, Any]) -> None:  # noqa: D102
        pass

    def on_cycle_start(self, logs: dict[str, Any]) -> None:  # noqa: D102
        pass

    def on_step_start(self, logs: dict[str, Any]) -> None:  # noqa: D102
        pass

    def on_step_end(self, logs: dict[str, Any]) -> None:  # noqa: D102
        pass

    def on_cycle_end(self, logs: dict[str, Any]) -> None:  # noqa: D102
        pass

    def on_experiment_end(self, logs: dict[str, Any]) -> None:  # noqa: D102
        pass

    def on_experiment_error(self, logs: dict[str, Any]) -> None:  # noqa: D102
        self.problems.append(_first_line(logs["error"]))

    def on_experiment_infeasible_time(self, logs: dict[str, Any]) -> None:  # noqa: D102
        self.problems.append(f"duration reached during {logs['step operating conditions']}")

    def on_experiment_infeasible_event(self, logs: dict[str, Any]) -> None:  # noqa: D102
        self.problems.append(f"{logs['termination']} during {logs['step operating conditions']}")


def solve_cycles(simulation_for: Callable[[int], CachedSimulation], inputs: dict[str, float],
                 n_cycles: int, chunk_cycles: int, plan: tuple[StepPlan, ...],
                 has_plating: bool, extra_variables: tuple[str, ...] = ()) -> CycleRun:
    """Solve ``n_cycles`` cycles in chunks of at most ``chunk_cycles``.

    Args:
        simulation_for: The cached simulation of a given number of cycles.
        inputs: The run's input values.
        n_cycles: Cycles to run.
        chunk_cycles: Most cycles per solver call.
        plan: The steps of one cycle.
        has_plating: Whether the model has lithium plating.
        extra_variables: Further PyBaMM variables to read at the end of each cycle.

    Returns:
        The completed cycles' values, and why the run stopped early if it did.
    """
    run = CycleRun()
    discharge_steps = [index for index, step in enumerate(plan) if step.direction == "discharge"]
    start: pybamm.Solution | None = None
    while len(run.rows) < n_cycles:
        done = len(run.rows)
        length = min(chunk_cycles, n_cycles - done)
        entry = simulation_for(length)
        recorder = _ExperimentRecorder()
        run.chunks += 1
        try:
            with entry.lock:
                solution = entry.simulation.solve(inputs=inputs, calc_esoh=False, starting_solution=start,
                                                  callbacks=[recorder])
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - PyBaMM and CasADi raise many types for one bad run
            run.failure = _message(done + 1, f"{type(exc).__name__}: {_first_line(exc)}", recorder)
            return run
        # A starting solution comes back as an extra first cycle.
        cycles = solution.cycles[1:] if start is not None else solution.cycles
        for offset, cycle in enumerate(cycles):
            problem = _cycle_problem(cycle.steps, plan)
            if problem is None:
                try:
                    run.rows.append(cycle_values(cycle.steps, discharge_steps, has_plating, extra_variables))
                    continue
                except NonFiniteValueError as exc:
                    problem = str(exc)
            run.failure = _message(done + offset + 1, problem, recorder)
            return run
        if len(cycles) < length:
            run.failure = _message(done + len(cycles) + 1, "the solver stopped", recorder)
            return run
        start = solution.last_state
        del solution, cycles
    return run


def _cycle_problem(steps: list[pybamm.Solution], plan: tuple[StepPlan, ...]) -> str | None:
    """Why a cycle did not complete, or None if every step ended as the protocol meant."""
    for index, (step, planned) in enumerate(zip(steps, plan, strict=False)):
        if not solved(step):
            continue
        termination = str(step.termination)
        if "[experiment]" in termination or (termination == "final time" and planned.time_limited):
            continue
        return f"step {index + 1} ({planned.label!r}) ended on {termination!r}"
    if len(steps) < len(plan):
        return f"step {len(steps) + 1} ({plan[len(steps)].label!r}) did not solve"
    if not any(solved(step) for step in steps):
        return "every step was infeasible"
    return None


def _message(cycle: int, problem: str, recorder: _ExperimentRecorder) -> str:
    detail = "; ".join(dict.fromkeys(recorder.problems))
    text = f"stopped in cycle {cycle}: {problem}" + (f" ({detail})" if detail else "")
    return text[:MAX_MESSAGE_CHARS]


def _first_line(error: object) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
