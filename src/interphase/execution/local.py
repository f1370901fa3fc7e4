"""The default executor: a pool of local worker processes.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one task. Killing a
worker that overran its timeout breaks the whole pool and fails every run in flight.
Here each worker is a ``multiprocessing`` process with its own pipe, so an overrunning
or crashed worker is killed and replaced alone while the others keep running.

Workers start with ``spawn`` (or ``forkserver``), never ``fork``: a forked copy of a
parent that holds PyBaMM's, torch's or BLAS's threads can deadlock.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from interphase.execution.base import Executor
from interphase.execution.errors import ExecutionError
from interphase.execution.failure_rate import DEFAULT_FAILURE_LIMIT, FailureRateLimit
from interphase.execution.pool import Attempt, AttemptEnded, WorkerPool, lost_run
from interphase.execution.retry import DEFAULT_RETRY, RetryPolicy
from interphase.execution.worker import (
    Broken,
    Finished,
    Rejected,
    Started,
    WorkerSetup,
    prepare_worker,
    run_task,
    start_task,
)
from interphase.schema import InvalidInputError

StartMethod = Literal["spawn", "forkserver"]
STOP_GRACE_S = 5.0


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Ready:
    worker_id: str


def _worker_main(conn: Connection, name: str, setup: WorkerSetup | None, warm_up: Sequence[str]) -> None:
    """Entry point of a worker process: set up, then run tasks until told to stop."""
    # Ctrl-C reaches the whole process group; the parent decides how workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        prepare_worker(setup, warm_up)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(Broken(f"worker set-up failed:\n{traceback.format_exc()}"))
        return
    conn.send(_Ready(f"{name}:pid={os.getpid()}"))
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        reply = start_task(task)
        conn.send(reply)
        if isinstance(reply, Started):
            conn.send(run_task(task))


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, context: Any, name: str, setup: WorkerSetup | None, warm_up: Sequence[str]) -> None:
        self.conn, child_conn = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child_conn, name, setup, warm_up),
                                       name=f"interphase-{name}", daemon=True)
        self.process.start()
        child_conn.close()  # so that the worker's death reads as EOF here
        self.worker_id = name
        self.ready = False
        self.attempt: Attempt | None = None
        self.started: Started | None = None
        self.started_at = 0.0

    @property
    def idle(self) -> bool:
        return self.ready and self.attempt is None

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(STOP_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class ProcessPool(WorkerPool):
    """``n_workers`` worker processes that persist until :meth:`close`.

    Args:
        n_workers: Number of processes.
        start_method: ``"spawn"`` or ``"forkserver"``.
        setup: Run once in each worker before any task.
        warm_up: Source names each worker builds before it reports ready.
        timeout_s: Longest run, in seconds; None for no limit.
    """

    def __init__(self, n_workers: int, start_method: StartMethod, setup: WorkerSetup | None,
                 warm_up: Sequence[str], timeout_s: float | None) -> None:
        self._context = multiprocessing.get_context(start_method)
        self._setup, self._warm_up, self._timeout_s = setup, tuple(warm_up), timeout_s
        self._spawned = 0
        self._workers = [self._spawn() for _ in range(n_workers)]
        self._ended: list[AttemptEnded] = []
        self._backlog: deque[Attempt] = deque()  # handed to a worker that turned out dead
        self._start_failure: ExecutionError | None = None  # once set, the pool is unusable

    def wait_until_ready(self) -> None:
        """See :meth:`WorkerPool.wait_until_ready`."""
        while not all(worker.ready for worker in self._workers):
            self._poll(None)

    def idle_slots(self) -> int:
        """See :meth:`WorkerPool.idle_slots`."""
        return max(0, sum(worker.idle for worker in self._workers) - len(self._backlog))

    def start(self, attempt: Attempt) -> None:
        """See :meth:`WorkerPool.start`."""
        worker = next(w for w in self._workers if w.idle)
        worker.attempt, worker.started = attempt, None
        try:
            worker.conn.send(attempt.task)
        except OSError:  # it died while idle: replace it and hand the attempt on
            worker.attempt = None
            self._backlog.append(attempt)
            self._died(worker)

    def wait(self, timeout_s: float | None) -> list[AttemptEnded]:
        """See :meth:`WorkerPool.wait`."""
        if not self._ended:
            self._poll(timeout_s)
        ended, self._ended = self._ended, []
        return ended

    def close(self) -> None:
        """See :meth:`WorkerPool.close`."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.attempt is not None:
                worker.kill()
            else:
                worker.stop()

    def _spawn(self) -> _Worker:
        self._spawned += 1
        return _Worker(self._context, f"local-{self._spawned}", self._setup, self._warm_up)

    def _poll(self, timeout_s: float | None) -> None:
        """Wait once for messages, deaths or the nearest run deadline, and handle them."""
        if self._start_failure is not None:
            raise self._start_failure
        deadlines = [w.started_at + self._timeout_s for w in self._workers
                     if self._timeout_s is not None and w.started is not None]
        if deadlines:
            until_deadline = max(0.0, min(deadlines) - time.monotonic())
            timeout_s = until_deadline if timeout_s is None else min(timeout_s, until_deadline)
        by_handle: dict[Any, _Worker] = {}
        for worker in self._workers:
            by_handle[worker.conn] = worker
            by_handle[worker.process.sentinel] = worker
        for handle in multiprocessing.connection.wait(list(by_handle), timeout_s):
            worker = by_handle[handle]
            if worker in self._workers:
                self._drain(worker)
                if worker in self._workers and not worker.process.is_alive():
                    self._died(worker)
        self._expire_overdue()
        while self._backlog and any(w.idle for w in self._workers):
            self.start(self._backlog.popleft())

    def _drain(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            self._died(worker)

    def _handle(self, worker: _Worker, message: object) -> None:
        if isinstance(message, _Ready):
            worker.ready, worker.worker_id = True, message.worker_id
        elif isinstance(message, Started):
            # The worker's clock, not the time this message is read: a caller busy between
            # outcomes must not stretch a run's timeout. CLOCK_MONOTONIC is machine-wide.
            worker.started, worker.started_at = message, message.monotonic_s
        elif worker.attempt is None:  # Broken before ready: set-up failed
            self._workers.remove(worker)
            worker.kill()
            error = message.error if isinstance(message, Broken) else repr(message)
            self._start_failure = ExecutionError(f"worker {worker.worker_id} failed to start: {error}")
            raise self._start_failure
        else:
            assert isinstance(message, Finished | Rejected | Broken)
            self._end(worker, message)

    def _end(self, worker: _Worker, reply: Finished | Rejected | Broken) -> None:
        assert worker.attempt is not None
        self._ended.append(AttemptEnded(worker.attempt, reply, worker.worker_id))
        worker.attempt, worker.started = None, None

    def _died(self, worker: _Worker) -> None:
        """Account for a worker that exited on its own, and replace it."""
        if worker not in self._workers:
            return
        self._workers.remove(worker)
        worker.process.join()
        worker.conn.close()
        code = worker.process.exitcode
        if not worker.ready:
            self._start_failure = ExecutionError(
                f"worker {worker.worker_id} exited (code {code}) before it was ready; its stderr says why")
            raise self._start_failure
        if worker.attempt is not None:
            if worker.started is not None:
                elapsed_s = time.monotonic() - worker.started_at
                message = f"worker {worker.worker_id} died (exit code {code}) during the run"
                self._end(worker, lost_run(worker.attempt, worker.started.provenance, message, elapsed_s))
            else:
                self._end(worker, Broken(f"worker {worker.worker_id} died (exit code {code}) "
                                         f"while building source {worker.attempt.task.source!r}"))
        self._workers.append(self._spawn())

    def _expire_overdue(self) -> None:
        if self._timeout_s is None:
            return
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.started is None or now < worker.started_at + self._timeout_s:
                continue
            self._drain(worker)  # it may have finished just in time
            if worker not in self._workers or worker.started is None:
                continue
            elapsed_s = time.monotonic() - worker.started_at
            attempt, provenance = worker.attempt, worker.started.provenance
            assert attempt is not None
            self._workers.remove(worker)
            worker.kill()
            message = (f"run timed out after {self._timeout_s:g} s; worker {worker.worker_id} "
                       "was killed and replaced")
            self._end(worker, lost_run(attempt, provenance, message, elapsed_s))
            self._workers.append(self._spawn())


class LocalExecutor(Executor):
    """The default executor: one process per CPU, persistent across batches.

    Never slower than serial for CPU-bound work beyond start-up: there are no more
    workers than CPUs, each runs one task at a time, and the workers (with the sources
    they built) persist across batches, so start-up is paid once per executor, or
    before timing with :meth:`start`. One worker runs tasks in one process, not in the
    caller's, so timeouts and crash isolation hold there too.

    Args:
        max_workers: Worker processes; default: the CPUs in this process's affinity mask.
        start_method: ``"spawn"`` (default) or ``"forkserver"``.
        timeout_s: Longest a run may take, in seconds; see :class:`Executor`.
        retry: When transient failures are retried (same seed).
        failure_limit: When to halt; None never halts.
        worker_setup: Picklable callable each worker runs once first.
        warm_up: Source names each worker builds before it reports ready.

    Raises:
        InvalidInputError: If ``max_workers`` < 1 or the start method is unknown.
    """

    def __init__(self, max_workers: int | None = None, *, start_method: StartMethod = "spawn",
                 timeout_s: float | None = None, retry: RetryPolicy = DEFAULT_RETRY,
                 failure_limit: FailureRateLimit | None = DEFAULT_FAILURE_LIMIT,
                 worker_setup: WorkerSetup | None = None, warm_up: Sequence[str] = ()) -> None:
        super().__init__(timeout_s=timeout_s, retry=retry, failure_limit=failure_limit,
                         worker_setup=worker_setup, warm_up=warm_up)
        if max_workers is not None and max_workers < 1:
            raise InvalidInputError("max_workers", f"must be >= 1 or None, got {max_workers}")
        if start_method not in ("spawn", "forkserver"):
            raise InvalidInputError("start_method", f"'spawn' or 'forkserver', got {start_method!r}")
        self.max_workers = max_workers
        self.start_method = start_method

    @property
    def n_workers(self) -> int:
        """Worker processes this executor runs."""
        return self.max_workers or available_cpus()

    def _open_pool(self) -> WorkerPool:
        return ProcessPool(self.n_workers, self.start_method, self.worker_setup, self.warm_up,
                           self.timeout_s)
