"""Solve a protocol's cycles in chunks, each chunk continuing from the last state of the one before.

Only per-cycle values leave a chunk: its solution is dropped once they are read, and the
next chunk starts from ``solution.last_state``. With the solver keeping only the few
variables the observables need, memory stays bounded by one chunk whatever the horizon.
Every step is a separate solver call from the previous state either way, so chunks of
one length (one cached simulation) reproduce a single solve bit for bit. A shorter last
chunk is another simulation; its first step starts from a state of the other one without
a compiled state mapper between them, which moves results by about 1e-13 relative.

A run that stops early (a solver error, a cut-off never reached, a safety event, NaN)
keeps the cycles it completed and says why it stopped; nothing raises. What the solver prints
while it runs is kept with the run (:mod:`.solver_output`), not shown on the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pybamm

from interphase.sources.pybamm_cell.experiment import StepPlan
from interphase.sources.pybamm_cell.model_cache import CachedSimulation
from interphase.sources.pybamm_cell.readout import NonFiniteValueError, cycle_values, solved
from interphase.sources.pybamm_cell.solver_output import (
    MAX_LINES,
    SolverOutput,
    captured_solver_output,
    solver_summary,
)

MAX_MESSAGE_CHARS = 400


@dataclass
class CycleRun:
    """What a run produced.

    Attributes:
        rows: Observable values of each completed cycle, cycle 1 first.
        failure: Why the run stopped before the last cycle, or None.
        chunks: Solver calls made.
        solver_output: What the solver printed (SUNDIALS errors, PyBaMM's log), at most
            :data:`~.solver_output.MAX_LINES` lines.
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    failure: str | None = None
    chunks: int = 0
    solver_output: list[str] = field(default_factory=list)


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
        printed = SolverOutput()
        try:
            with entry.lock, captured_solver_output() as printed:
                solution = entry.simulation.solve(inputs=inputs, calc_esoh=False, starting_solution=start,
                                                  callbacks=[recorder])
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - PyBaMM and CasADi raise many types for one bad run
            _keep(run, printed.lines)
            run.failure = _message(done + 1, f"{type(exc).__name__}: {_first_line(exc)}", recorder, run)
            return run
        _keep(run, printed.lines)
        # Every step infeasible gives an empty solution, which has no cycles.
        solved_cycles = getattr(solution, "cycles", None) or []
        # A starting solution comes back as an extra first cycle.
        cycles = solved_cycles[1:] if start is not None else solved_cycles
        for offset, cycle in enumerate(cycles):
            problem = _cycle_problem(cycle.steps, plan)
            if problem is None:
                try:
                    run.rows.append(cycle_values(cycle.steps, discharge_steps, has_plating, extra_variables))
                    continue
                except NonFiniteValueError as exc:
                    problem = str(exc)
            run.failure = _message(done + offset + 1, problem, recorder, run)
            return run
        if len(cycles) < length:
            run.failure = _message(done + len(cycles) + 1, "the solver stopped", recorder, run)
            return run
        start = solution.last_state
        del solution, cycles, solved_cycles
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


def _keep(run: CycleRun, lines: list[str]) -> None:
    """Add a chunk's solver output to the run's (repeats dropped, capped)."""
    run.solver_output = list(dict.fromkeys([*run.solver_output, *lines]))[:MAX_LINES]


def _message(cycle: int, problem: str, recorder: _ExperimentRecorder, run: CycleRun) -> str:
    """Why a run stopped, in one line: the cycle, the problem, PyBaMM's account, the solver's first error."""
    detail = "; ".join(dict.fromkeys(recorder.problems))
    printed = solver_summary(run.solver_output)
    solver = f"; solver: {printed}" if printed else ""
    text = f"stopped in cycle {cycle}: {problem}" + (f" ({detail})" if detail else "")
    # The solver's line says where it gave up (the time and step size); keep it whole.
    room = max(MAX_MESSAGE_CHARS - len(solver), MAX_MESSAGE_CHARS // 2)
    return text[:room] + solver[:MAX_MESSAGE_CHARS // 2]


def _first_line(error: object) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
