"""The Ray executor: the same contract as the local pool, on a Ray instance or cluster.

Ray is an optional extra (``pip install interphase[ray]``) and is imported only when a
:class:`RayExecutor` starts, so ``import interphase.execution`` never loads it.

Workers are Ray actors, one CPU each, rather than stateless remote functions: an actor
keeps the sources it built (a PyBaMM model is built once per actor, as in the local
pool), reports when it is ready, so start-up never counts against a run's timeout, and
can be killed alone when a run overruns.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from interphase.execution.base import Executor, RunTask
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


def driver_python_path() -> list[str]:
    """Entries of this process's ``sys.path`` that a fresh interpreter would not have.

    A local Ray instance's workers start from the raylet, not from this process, so
    modules found through a path added at run time (a test's support package, a
    notebook's folder) would not import there. Installed packages need no help.
    """
    installed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    extra = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.isdir(real) and not any(real.startswith(p + os.sep) for p in installed):
            extra.append(real)
    return list(dict.fromkeys(extra))


def start_local_ray(num_cpus: int | None = None, **init_kwargs: Any) -> None:
    """Start a local Ray instance set up for interphase's workers.

    Token authentication is turned off (``RAY_AUTH_MODE=disabled``, unless already set)
    because the instance serves only this machine; the dashboard is off; workers get
    this process's extra ``sys.path`` entries (see :func:`driver_python_path`).

    Args:
        num_cpus: CPUs the instance offers; default: all of them.
        **init_kwargs: Further ``ray.init`` arguments.
    """
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    runtime_env = dict(init_kwargs.pop("runtime_env", None) or {})
    env_vars = dict(runtime_env.get("env_vars", {}))
    inherited = [p for p in env_vars.get("PYTHONPATH", "").split(os.pathsep) if p]
    env_vars["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*inherited, *driver_python_path()]))
    runtime_env["env_vars"] = env_vars
    init_kwargs.setdefault("include_dashboard", False)
    ray.init(num_cpus=num_cpus, runtime_env=runtime_env, **init_kwargs)


class RayWorker:
    """One worker; :class:`RayActorPool` makes it a Ray actor with one CPU."""

    def __init__(self, setup: WorkerSetup | None, warm_up: Sequence[str]) -> None:
        import ray

        prepare_worker(setup, warm_up)
        self.worker_id = f"ray:{ray.util.get_node_ip_address()}:pid={os.getpid()}"

    def ready(self) -> str:
        """The worker's id, once set-up is done."""
        return self.worker_id

    def start(self, task: RunTask) -> Started | Rejected | Broken:
        """See :func:`~interphase.execution.worker.start_task`."""
        return start_task(task)

    def run(self, task: RunTask) -> Finished | Rejected | Broken:
        """See :func:`~interphase.execution.worker.run_task`."""
        return run_task(task)


class _Slot:
    def __init__(self, actor: Any, name: str) -> None:
        self.actor = actor
        self.worker_id = name
        self.ready = False
        self.attempt: Attempt | None = None
        self.started: Started | None = None
        self.started_at = 0.0

    @property
    def idle(self) -> bool:
        return self.ready and self.attempt is None


class RayActorPool(WorkerPool):
    """``n_workers`` Ray actors on the connected instance, replaced when one dies or overruns."""

    def __init__(self, n_workers: int, setup: WorkerSetup | None, warm_up: Sequence[str],
                 timeout_s: float | None) -> None:
        import ray

        self._ray = ray
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(RayWorker)
        self._setup, self._warm_up, self._timeout_s = setup, tuple(warm_up), timeout_s
        self._spawned = 0
        self._refs: dict[Any, tuple[_Slot, str]] = {}  # object ref -> (slot, "ready"|"start"|"run")
        self._slots = [self._spawn() for _ in range(n_workers)]
        self._ended: list[AttemptEnded] = []
        self._start_failure: ExecutionError | None = None  # once set, the pool is unusable

    def wait_until_ready(self) -> None:
        """See :meth:`WorkerPool.wait_until_ready`."""
        while not all(slot.ready for slot in self._slots):
            self._poll(None)

    def idle_slots(self) -> int:
        """See :meth:`WorkerPool.idle_slots`."""
        return sum(slot.idle for slot in self._slots)

    def start(self, attempt: Attempt) -> None:
        """See :meth:`WorkerPool.start`."""
        slot = next(s for s in self._slots if s.idle)
        slot.attempt, slot.started = attempt, None
        self._refs[slot.actor.start.remote(attempt.task)] = (slot, "start")

    def wait(self, timeout_s: float | None) -> list[AttemptEnded]:
        """See :meth:`WorkerPool.wait`."""
        if not self._ended:
            self._poll(timeout_s)
        ended, self._ended = self._ended, []
        return ended

    def close(self) -> None:
        """See :meth:`WorkerPool.close`."""
        slots, self._slots = self._slots, []
        self._refs.clear()
        if self._ray.is_initialized():  # a shut-down instance took its actors with it
            for slot in slots:
                self._ray.kill(slot.actor, no_restart=True)

    def _spawn(self) -> _Slot:
        self._spawned += 1
        slot = _Slot(self._actor_class.remote(self._setup, self._warm_up), f"ray-{self._spawned}")
        self._refs[slot.actor.ready.remote()] = (slot, "ready")
        return slot

    def _poll(self, timeout_s: float | None) -> None:
        if self._start_failure is not None:
            raise self._start_failure
        deadlines = [s.started_at + self._timeout_s for s in self._slots
                     if self._timeout_s is not None and s.started is not None]
        if deadlines:
            until_deadline = max(0.0, min(deadlines) - time.monotonic())
            timeout_s = until_deadline if timeout_s is None else min(timeout_s, until_deadline)
        refs = list(self._refs)
        if not refs:
            time.sleep(timeout_s or 0.0)
            return
        done, _ = self._ray.wait(refs, num_returns=1, timeout=timeout_s)
        if done:  # collect everything else that is ready too
            done, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in done:
            if ref in self._refs:
                self._handle(ref, *self._refs.pop(ref))
        self._expire_overdue()

    def _handle(self, ref: Any, slot: _Slot, phase: str) -> None:
        from ray.exceptions import RayActorError, RayError

        try:
            value = self._ray.get(ref)
        except RayActorError as exc:
            self._died(slot, phase, exc)
            return
        except RayError as exc:  # e.g. a task that could not be unpickled on the worker
            if phase == "ready":
                self._failed_to_start(slot, exc)
            self._end(slot, Broken(f"{type(exc).__name__}: {exc}"))
            return
        if phase == "ready":
            slot.ready, slot.worker_id = True, value
        elif phase == "start" and isinstance(value, Started):
            assert slot.attempt is not None
            # The driver's clock: an actor may run on another machine.
            slot.started, slot.started_at = value, time.monotonic()
            self._refs[slot.actor.run.remote(slot.attempt.task)] = (slot, "run")
        else:
            self._end(slot, value)

    def _end(self, slot: _Slot, reply: Finished | Rejected | Broken) -> None:
        assert slot.attempt is not None
        self._ended.append(AttemptEnded(slot.attempt, reply, slot.worker_id))
        slot.attempt, slot.started = None, None

    def _died(self, slot: _Slot, phase: str, exc: Exception) -> None:
        if phase == "ready":
            self._failed_to_start(slot, exc)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if phase == "run" and slot.started is not None and slot.attempt is not None:
            elapsed_s = time.monotonic() - slot.started_at
            message = f"worker {slot.worker_id} died during the run: {reason}"
            self._end(slot, lost_run(slot.attempt, slot.started.provenance, message, elapsed_s))
        else:
            self._end(slot, Broken(f"worker {slot.worker_id} died while building source: {reason}"))
        self._replace(slot)

    def _failed_to_start(self, slot: _Slot, exc: Exception) -> NoReturn:
        self._start_failure = ExecutionError(f"Ray worker {slot.worker_id} failed to start: {exc}")
        raise self._start_failure from exc

    def _replace(self, slot: _Slot) -> None:
        self._ray.kill(slot.actor, no_restart=True)
        for ref in [r for r, (s, _) in self._refs.items() if s is slot]:
            del self._refs[ref]
        self._slots[self._slots.index(slot)] = self._spawn()

    def _expire_overdue(self) -> None:
        if self._timeout_s is None:
            return
        for slot in list(self._slots):
            if slot.started is None or time.monotonic() < slot.started_at + self._timeout_s:
                continue
            run_refs = [r for r, (s, phase) in self._refs.items() if s is slot and phase == "run"]
            finished, _ = self._ray.wait(run_refs, num_returns=len(run_refs), timeout=0)
            if finished:  # it ended just in time
                self._handle(finished[0], *self._refs.pop(finished[0]))
                continue
            assert slot.attempt is not None
            elapsed_s = time.monotonic() - slot.started_at
            message = (f"run timed out after {self._timeout_s:g} s; worker {slot.worker_id} "
                       "was killed and replaced")
            self._end(slot, lost_run(slot.attempt, slot.started.provenance, message, elapsed_s))
            self._replace(slot)


class RayExecutor(Executor):
    """Runs tasks on Ray actors: a local instance, or a cluster given by ``address``.

    If Ray is already initialised in this process, the executor uses that instance and
    leaves it running on :meth:`close`; otherwise it starts (or connects to) one and
    shuts it down on :meth:`close`.

    Args:
        address: A cluster address (``"ray://host:10001"``, ``"auto"``); None starts a
            local instance with :func:`start_local_ray`. On a cluster, ``worker_setup``
            and the sources must be importable on every node.
        num_cpus: CPUs of the local instance; default: all. Ignored with ``address``.
        max_workers: Actors; default: the instance's CPUs.
        timeout_s: Longest a run may take, in seconds; see :class:`Executor`.
        retry: When transient failures are retried (same seed).
        failure_limit: When to halt; None never halts.
        worker_setup: Picklable callable each actor runs once first.
        warm_up: Source names each actor builds before it reports ready.
        ray_init_kwargs: Further ``ray.init`` arguments, when this executor starts Ray.

    Raises:
        InvalidInputError: If ``max_workers`` or ``num_cpus`` is < 1.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, *,
                 max_workers: int | None = None, timeout_s: float | None = None,
                 retry: RetryPolicy = DEFAULT_RETRY,
                 failure_limit: FailureRateLimit | None = DEFAULT_FAILURE_LIMIT,
                 worker_setup: WorkerSetup | None = None, warm_up: Sequence[str] = (),
                 ray_init_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__(timeout_s=timeout_s, retry=retry, failure_limit=failure_limit,
                         worker_setup=worker_setup, warm_up=warm_up)
        for name, value in (("max_workers", max_workers), ("num_cpus", num_cpus)):
            if value is not None and value < 1:
                raise InvalidInputError(name, f"must be >= 1 or None, got {value}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_workers = max_workers
        self.ray_init_kwargs = dict(ray_init_kwargs or {})
        self._owns_ray = False

    def _open_pool(self) -> WorkerPool:
        import ray

        if not ray.is_initialized():
            if self.address is None:
                start_local_ray(self.num_cpus, **self.ray_init_kwargs)
            else:
                ray.init(address=self.address, **self.ray_init_kwargs)
            self._owns_ray = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        n_workers = self.max_workers or max(1, cpus)
        if n_workers > cpus:
            raise InvalidInputError("max_workers", f"{n_workers} actors of one CPU each, but the Ray "
                                    f"instance has {cpus} CPUs: the extra actors would wait forever")
        return RayActorPool(n_workers, self.worker_setup, self.warm_up, self.timeout_s)

    def close(self) -> None:
        """Kill the actors, and shut Ray down if this executor started it."""
        super().close()
        if self._owns_ray:
            import ray

            self._owns_ray = False
            ray.shutdown()
