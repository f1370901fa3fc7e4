"""The executor interface: tasks in, outcomes streamed back as they finish.

An :class:`Executor` owns the policy that is the same for every back end (retries
with backoff, the failure-rate limit, streaming); its
:class:`~interphase.execution.pool.WorkerPool` owns the workers. Executors run what
they are given; they never decide what to run.
"""

from __future__ import annotations

import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from interphase.execution.errors import ExecutionError, TaskBrokenError, TaskRejectedError
from interphase.execution.failure_rate import FailureRateGuard, FailureRateLimit
from interphase.execution.pool import Attempt, AttemptEnded, WorkerPool
from interphase.execution.retry import RetryPolicy
from interphase.execution.worker import Broken, Rejected, WorkerSetup
from interphase.schema import Design, InvalidInputError, Protocol, Request, Result


class RunTask(BaseModel):
    """One run to execute: a source (by registry name), a design, a protocol and a seed.

    Tasks are pickled to the workers; the source is built there, by name.

    Attributes:
        task_id: The caller's identifier, returned with the outcome (e.g. the request's
            idempotency key). Need not be unique to the executor.
        source: Registry name of the source, e.g. ``"pybamm-spm"``.
        design: The design, values in SI.
        protocol: The protocol to run.
        seed: The seed; every attempt of the task uses it.
        world: None to look the source up in the registry; else the world (a built-in
            name, or a YAML path every worker can read) that declares it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=120)
    design: Design
    protocol: Protocol
    seed: int = Field(ge=0, lt=2**63)
    world: str | None = Field(default=None, min_length=1, max_length=1000)

    @classmethod
    def from_request(cls, request: Request, design: Design) -> RunTask:
        """The task for a stored request, identified by its idempotency key."""
        return cls(task_id=request.idempotency_key, source=request.source, design=design,
                   protocol=request.protocol, seed=request.seed)


@dataclass(frozen=True)
class TaskOutcome:
    """A task's final result, after any retries.

    Attributes:
        task: The task.
        result: The result of its last attempt (succeeded, stopped or failed).
        attempts: Attempts made, 1 when the first one settled it.
        wall_s: Wall-clock seconds of the last attempt, in the worker.
        worker_id: The worker that ran the last attempt, e.g. ``"local-1:pid=4242"``.
    """

    task: RunTask
    result: Result
    attempts: int
    wall_s: float
    worker_id: str


class Executor(ABC):
    """Runs tasks on a pool of workers and streams their outcomes back as they finish.

    Constructors only store their arguments; the workers start on :meth:`start` or the
    first :meth:`submit`, and persist until :meth:`close`, across any number of batches.

    One thread drives an executor, and the executor acts while that thread is inside
    :meth:`as_completed`: a run that overruns while the caller is busy between two
    outcomes is killed at the caller's next step, its elapsed time reported as it was.

    Args:
        timeout_s: Longest a run may take, in seconds, counted from when its source is
            built in the worker; a run over it is killed and becomes a transient
            failure. None for no limit.
        retry: When transient failures are tried again (same seed).
        failure_limit: When to halt with :class:`ExecutionHalted`; None never halts.
        worker_setup: Picklable callable each worker runs once before any task, e.g. to
            register sources that are not entry points.
        warm_up: Source names each worker builds before it reports ready.
    """

    def __init__(self, *, timeout_s: float | None, retry: RetryPolicy,
                 failure_limit: FailureRateLimit | None, worker_setup: WorkerSetup | None,
                 warm_up: Sequence[str]) -> None:
        if timeout_s is not None and not timeout_s > 0:
            raise InvalidInputError("timeout_s", f"must be > 0 seconds or None, got {timeout_s!r}")
        self.timeout_s = timeout_s
        self.retry = retry
        self.failure_limit = failure_limit
        self.worker_setup = worker_setup
        self.warm_up = tuple(warm_up)
        self._guard = FailureRateGuard(failure_limit) if failure_limit is not None else None
        self._pool: WorkerPool | None = None
        self._closed = False
        self._keys = itertools.count()
        self._live: dict[int, RunTask] = {}
        self._queue: deque[Attempt] = deque()
        self._delayed: list[tuple[float, int, Attempt]] = []  # (due, key, attempt) heap
        self._ended: deque[AttemptEnded] = deque()

    @abstractmethod
    def _open_pool(self) -> WorkerPool:
        """Start this back end's workers."""

    def start(self) -> Self:
        """Start the workers and wait until each has run its set-up and warm-up.

        Optional: :meth:`submit` starts them too. Calling it first keeps start-up out of
        the first batch's timings.

        Raises:
            ExecutionError: If the executor is closed or a worker fails to start.
        """
        self._running_pool().wait_until_ready()
        return self

    def submit(self, tasks: Iterable[RunTask]) -> None:
        """Queue tasks; their outcomes come out of :meth:`as_completed`.

        May be called while iterating :meth:`as_completed`: the new tasks join the stream.
        """
        pool = self._running_pool()
        for task in tasks:
            key = next(self._keys)
            self._live[key] = task
            self._queue.append(Attempt(key, task, 1))
        self._dispatch(pool)

    def as_completed(self) -> Iterator[TaskOutcome]:
        """Yield the outcome of every submitted task as it settles, until none is left.

        Raises:
            ExecutionHalted: When the failure-rate limit trips. Queued and waiting tasks
                are dropped and runs in progress are abandoned (their outcomes discarded).
            InvalidInputError: When a task is invalid (unknown source, design outside
                the space). Only that task is dropped; iterate again to go on.
            ExecutionError: When a worker cannot attempt a task (its source cannot be
                built). Only that task is dropped.
        """
        pool = self._running_pool()
        while self._live:
            self._dispatch(pool)
            if not self._ended:
                wait_s = max(0.0, self._delayed[0][0] - time.monotonic()) if self._delayed else None
                self._ended.extend(pool.wait(wait_s))
            # One at a time from a buffer the executor keeps: a caller that stops
            # iterating, or an error raised for one task, loses no other task's outcome.
            while self._ended:
                outcome = self._settle(self._ended.popleft())
                if outcome is None:
                    continue
                self._dispatch(pool)  # keep the workers busy while the caller works
                yield outcome
                if self._guard is not None:
                    self._observe(outcome.result)

    def map_unordered(self, tasks: Iterable[RunTask]) -> Iterator[TaskOutcome]:
        """Submit ``tasks`` now and stream outcomes, in completion order.

        The stream also carries any task submitted earlier and not yet collected.
        """
        self.submit(tasks)
        return self.as_completed()

    @property
    def pending(self) -> int:
        """Tasks submitted whose outcome has not been yielded yet."""
        return len(self._live)

    def close(self) -> None:
        """Stop the workers; runs in progress are killed. Idempotent."""
        self._closed = True
        self._forget_all()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _running_pool(self) -> WorkerPool:
        if self._closed:
            raise ExecutionError(f"{type(self).__name__} is closed")
        if self._pool is None:
            self._pool = self._open_pool()
        return self._pool

    def _dispatch(self, pool: WorkerPool) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._queue.append(heapq.heappop(self._delayed)[2])
        while self._queue and pool.idle_slots() > 0:
            pool.start(self._queue.popleft())

    def _settle(self, ended: AttemptEnded) -> TaskOutcome | None:
        """The outcome of an ended attempt, or None when it is retried or was abandoned."""
        attempt, reply = ended.attempt, ended.reply
        if attempt.key not in self._live:
            return None
        task = attempt.task
        if isinstance(reply, Rejected):
            del self._live[attempt.key]
            raise TaskRejectedError(task.task_id, reply.field, f"{reply.problem} (task {task.task_id!r})")
        if isinstance(reply, Broken):
            del self._live[attempt.key]
            raise TaskBrokenError(task.task_id, f"task {task.task_id!r} on {ended.worker_id}: {reply.error}")
        if self.retry.should_retry(reply.result, attempt.number):
            due = time.monotonic() + self.retry.delay_s(attempt.number)
            heapq.heappush(self._delayed, (due, attempt.key, Attempt(attempt.key, task, attempt.number + 1)))
            return None
        del self._live[attempt.key]
        return TaskOutcome(task=task, result=reply.result, attempts=attempt.number, wall_s=reply.wall_s,
                           worker_id=ended.worker_id)

    def _observe(self, result: Result) -> None:
        assert self._guard is not None
        try:
            self._guard.observe(result)
        except ExecutionError:
            self._forget_all()
            raise

    def _forget_all(self) -> None:
        """Drop every task; attempts still running end unseen (their keys are not live)."""
        self._live.clear()
        self._queue.clear()
        self._delayed.clear()
        self._ended.clear()
