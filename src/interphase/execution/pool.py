"""The back-end interface: a pool of workers that each run one attempt at a time.

A pool owns its workers: how an attempt reaches one, how a run over its timeout is
killed, how a dead worker is replaced. Retries and the failure-rate limit are the
executor's, the same for every pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interphase.execution.worker import Broken, Finished, Rejected
from interphase.schema import Cost, FailureKind, Provenance, Result, ResultStatus

if TYPE_CHECKING:
    from interphase.execution.base import RunTask


@dataclass(frozen=True)
class Attempt:
    """One attempt of a task; ``key`` is the executor's handle on the task."""

    key: int
    task: RunTask
    number: int


@dataclass(frozen=True)
class AttemptEnded:
    """What a pool reports for an attempt: its reply and where it ran."""

    attempt: Attempt
    reply: Finished | Rejected | Broken
    worker_id: str


def lost_run(attempt: Attempt, provenance: Provenance, message: str, elapsed_s: float) -> Finished:
    """The transient failure for a run the pool had to abandon (timed out, worker died).

    Args:
        attempt: The attempt that was lost.
        provenance: The provenance the source gave when the run started.
        message: What happened, for people.
        elapsed_s: Seconds the run had been going; charged as its CPU cost.
    """
    task = attempt.task
    result = Result(source=provenance.source_name, design=task.design, protocol=task.protocol,
                    status=ResultStatus.FAILED, failure_kind=FailureKind.TRANSIENT, message=message,
                    provenance=provenance, cost=Cost(cpu_seconds=elapsed_s), cycles_run=0)
    return Finished(result, elapsed_s)


class WorkerPool(ABC):
    """Workers that run one attempt each at a time. Not thread-safe; one executor drives it."""

    @abstractmethod
    def wait_until_ready(self) -> None:
        """Block until every worker has started and run its set-up."""

    @abstractmethod
    def idle_slots(self) -> int:
        """Workers ready for an attempt now."""

    @abstractmethod
    def start(self, attempt: Attempt) -> None:
        """Hand ``attempt`` to an idle worker; call only when :meth:`idle_slots` > 0."""

    @abstractmethod
    def wait(self, timeout_s: float | None) -> list[AttemptEnded]:
        """Wait up to ``timeout_s`` (None: until something happens) for attempts to end.

        Runs over the timeout end here as transient failures, their workers replaced.
        May return an empty list (a timeout, or a worker became ready).
        """

    @abstractmethod
    def close(self) -> None:
        """Stop every worker, killing those still running."""
