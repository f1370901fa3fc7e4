"""How the campaign's own process runs what it launched: inline, or in parallel through an executor.

Sources are pure and seeded, so where a run executes never changes its result: one worker or
several, the local process pool or Ray, the campaign decides the same way. The executor is
injected (:func:`make_executor` builds the one a configuration asks for); without one, runs
execute one after the other in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from interphase.schema import Design, Protocol, Result
from interphase.sources import Source, run_safely

if TYPE_CHECKING:
    from interphase.execution import Executor


class Runner:
    """Runs batches of (source, design, protocol, seed) and returns their results in order.

    Args:
        sources: Source name -> source, for runs made in this process.
        executor: Runs batches of two or more in parallel (started by the caller, who closes
            it); None runs everything in this process.
        world: How the executor's workers find the campaign's world (a built-in name or a
            path); None when they cannot (an inline world): then runs stay in this process.
    """

    def __init__(self, sources: Mapping[str, Source], *, executor: Executor | None = None,
                 world: str | None = None) -> None:
        self.sources = dict(sources)
        self.executor = executor if world is not None else None
        self.world = world

    @property
    def parallel(self) -> bool:
        """Whether batches run in parallel through an executor."""
        return self.executor is not None

    def run(self, batch: Sequence[tuple[str, Design, Protocol, int]]) -> list[Result]:
        """Run every ``(source, design, protocol, seed)`` of ``batch``; results in the batch's order."""
        if self.executor is None or len(batch) < 2:
            return [run_safely(self.sources[name], design, protocol, seed=seed)
                    for name, design, protocol, seed in batch]
        from interphase.execution import RunTask

        tasks = [RunTask(task_id=str(i), source=name, design=design, protocol=protocol, seed=seed,
                         world=self.world) for i, (name, design, protocol, seed) in enumerate(batch)]
        results: dict[str, Result] = {}
        for outcome in self.executor.map_unordered(tasks):
            results[outcome.task.task_id] = outcome.result
        return [results[str(i)] for i in range(len(batch))]


def make_executor(kind: str, workers: int) -> Executor | None:
    """The executor a campaign's ``resources`` ask for, started; None when one worker runs locally.

    A campaign's executor runs each task once and never halts on failures: a failed run is a
    result the agent learns from, and a pure source would fail the same way again.

    Args:
        kind: ``"local"`` (a process pool) or ``"ray"`` (the cluster at ``RAY_ADDRESS``, or a
            local instance with ``workers`` CPUs when it is unset).
        workers: Parallel runs (``resources.processes``, else ``cpu_workers``); a local pool
            has at most one per CPU. One runs inline (no executor), and so does a campaign in
            a daemonic process (a worker of the benchmark's pool), which cannot start any.
    """
    from interphase.execution import RetryPolicy

    once = RetryPolicy(max_attempts=1)
    if kind == "local":
        from interphase.execution import LocalExecutor, available_cpus

        workers = min(workers, available_cpus())
        if workers <= 1 or multiprocessing.current_process().daemon:
            return None  # one process; or a pool's worker (the benchmark's), which may not start processes
        return LocalExecutor(max_workers=workers, retry=once, failure_limit=None).start()
    from interphase.execution import RayExecutor

    address = os.environ.get("RAY_ADDRESS") or None
    return RayExecutor(address, num_cpus=None if address else workers, max_workers=workers, retry=once,
                       failure_limit=None).start()
