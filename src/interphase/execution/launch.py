"""How a queue worker gets a run computed while it keeps heartbeating: each run is a future.

A :class:`Launcher` starts the run of one claimed request and hands back a
:class:`concurrent.futures.Future` of its result; the worker's thread for that claim waits on
it between heartbeats. :class:`InProcessLauncher` runs sources in this process;
:class:`ExecutorLauncher` hands runs to an :class:`~interphase.execution.base.Executor`
(local processes, Ray).
"""

from __future__ import annotations

import itertools
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future

from interphase.execution.base import Executor, RunTask
from interphase.execution.errors import ExecutionError, TaskBrokenError, TaskRejectedError
from interphase.schema import Design, FailureKind, InvalidInputError, Protocol, Result
from interphase.sources import Source, run_safely
from interphase.store.records import StoredRequest

RUN_THREAD_PREFIX = "interphase-run-"
"""Name prefix of the threads :class:`InProcessLauncher` computes in."""

_IN_PROCESS_TURN = threading.Lock()

IDLE_WAIT_S = 0.1
"""How often the executor's driver thread looks for new runs and for the end while idle (seconds)."""


class Launcher(ABC):
    """Starts runs for claimed requests and hands back futures of their results.

    Attributes:
        can_stop_early: Whether a test can be run again ended after a given cycle (a source
            can; a command on an instrument cannot be told afterwards).
    """

    can_stop_early: bool = True

    @property
    @abstractmethod
    def source_names(self) -> tuple[str, ...]:
        """The sources it runs requests for, sorted."""

    @abstractmethod
    def launch(self, request: StoredRequest, design: Design, protocol: Protocol) -> Future[Result]:
        """Start the run of ``request`` on ``design`` under ``protocol``, with the request's seed.

        The future's result is the run's result; a run the source refuses as invalid input
        ends as a deterministic failed result. The future holds an exception only when the
        run could not be attempted (an executor that broke); another worker may then try.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Give up runs in progress; their futures may never complete. Idempotent."""


def refused_input(source: Source, request: StoredRequest, design: Design, protocol: Protocol,
                  error: InvalidInputError) -> Result:
    """The failed result of a run whose input its source refuses: running it again cannot help."""
    return source.failed(design, protocol, request.seed, FailureKind.DETERMINISTIC,
                         f"the source refused the request's input: {error}")


def _settle(future: Future[Result], compute: Callable[[], Result]) -> None:
    try:
        future.set_result(compute())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting claim, which reports it
        future.set_exception(exc)


class InProcessLauncher(Launcher):
    """Runs sources in this process, one run at a time, each in a daemon thread.

    Runs take turns, across all the launchers of the process, because sources are not promised
    to be thread-safe (PyBaMM's solvers are not) and workers may share them. The threads keep
    the worker's heartbeats going while a run computes, and being daemons they do not hold a
    stopping process back. Once closed, runs that have not begun
    never begin; the one computing ends on its own, in the background (threads named
    :data:`RUN_THREAD_PREFIX` and the request id). Use an executor for runs in parallel.

    Args:
        sources: The sources, by name.
    """

    def __init__(self, sources: Mapping[str, Source]) -> None:
        self.sources = dict(sources)
        self._closed = threading.Event()

    @property
    def source_names(self) -> tuple[str, ...]:
        """See :attr:`Launcher.source_names`."""
        return tuple(sorted(self.sources))

    def launch(self, request: StoredRequest, design: Design, protocol: Protocol) -> Future[Result]:
        """See :meth:`Launcher.launch`."""
        future: Future[Result] = Future()
        source = self.sources[request.source]

        def compute() -> Result:
            with _IN_PROCESS_TURN:
                if self._closed.is_set():
                    raise CancelledError(f"the worker stopped before the run of {request.id} began")
                try:
                    return run_safely(source, design, protocol, request.seed)
                except InvalidInputError as exc:
                    return refused_input(source, request, design, protocol, exc)

        threading.Thread(target=_settle, args=(future, compute), name=f"{RUN_THREAD_PREFIX}{request.id}",
                         daemon=True).start()
        return future

    def close(self) -> None:
        """Start no more runs; the one computing, if any, ends on its own."""
        self._closed.set()


class ExecutorLauncher(Launcher):
    """Hands runs to an executor, which one thread of its own drives.

    An executor is driven by one thread. That thread waits inside
    :meth:`Executor.as_completed` while runs compute, so a run launched meanwhile is handed
    to the executor when the next run ends.

    Args:
        executor: The executor; the caller starts and closes it.
        sources: The sources, by name (to build the failed result of a refused input).
        worlds: For each source name, the world that declares it, or None for a registry source.
    """

    def __init__(self, executor: Executor, sources: Mapping[str, Source],
                 worlds: Mapping[str, str | None]) -> None:
        self.executor = executor
        self.sources = dict(sources)
        self.worlds = dict(worlds)
        self._inbox: queue.SimpleQueue[tuple[RunTask, StoredRequest, Future[Result]]] = queue.SimpleQueue()
        self._waiting: dict[str, tuple[RunTask, StoredRequest, Future[Result]]] = {}
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._driver: threading.Thread | None = None

    @property
    def source_names(self) -> tuple[str, ...]:
        """See :attr:`Launcher.source_names`."""
        return tuple(sorted(self.sources))

    def launch(self, request: StoredRequest, design: Design, protocol: Protocol) -> Future[Result]:
        """See :meth:`Launcher.launch`."""
        future: Future[Result] = Future()
        if self._closed.is_set():
            future.set_exception(ExecutionError("the worker's executor is closed"))
            return future
        task = RunTask(task_id=f"{request.id}#{next(self._ids)}", source=request.source, design=design,
                       protocol=protocol, seed=request.seed, world=self.worlds.get(request.source))
        self._inbox.put((task, request, future))
        if self._driver is None:
            self._driver = threading.Thread(target=self._drive, name="interphase-executor", daemon=True)
            self._driver.start()
        return future

    def close(self) -> None:
        """Stop handing runs to the executor; runs in flight are given up."""
        self._closed.set()

    def _drive(self) -> None:
        while not self._closed.is_set():
            self._submit_new()
            if not self.executor.pending:
                try:
                    self._inbox_wait()
                except queue.Empty:
                    pass
                continue
            try:
                for outcome in self.executor.as_completed():
                    self._resolve(outcome.task.task_id, outcome.result)
                    if self._closed.is_set():
                        return
                    self._submit_new()
            except (TaskRejectedError, TaskBrokenError) as exc:
                self._fail(exc.task_id, exc)
            except Exception as exc:  # noqa: BLE001 - the executor halted or broke: every run waiting fails
                for task_id in list(self._waiting):
                    self._fail(task_id, exc)

    def _inbox_wait(self) -> None:
        task, request, future = self._inbox.get(timeout=IDLE_WAIT_S)
        self._submit(task, request, future)

    def _submit_new(self) -> None:
        while True:
            try:
                task, request, future = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._submit(task, request, future)

    def _submit(self, task: RunTask, request: StoredRequest, future: Future[Result]) -> None:
        self._waiting[task.task_id] = (task, request, future)
        try:
            self.executor.submit([task])
        except Exception as exc:  # noqa: BLE001 - a closed or broken executor fails this run only
            self._fail(task.task_id, exc)

    def _resolve(self, task_id: str, result: Result) -> None:
        waiting = self._waiting.pop(task_id, None)
        if waiting is not None:
            waiting[2].set_result(result)

    def _fail(self, task_id: str, error: Exception) -> None:
        waiting = self._waiting.pop(task_id, None)
        if waiting is None:
            return
        task, request, future = waiting
        if isinstance(error, TaskRejectedError):
            source = self.sources[request.source]
            future.set_result(refused_input(source, request, task.design, task.protocol, error))
        else:
            future.set_exception(error)
