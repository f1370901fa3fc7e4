"""Executors: run tasks on a local process pool (default) or on Ray (optional extra).

They retry transient failures with backoff, kill runs over their timeout, halt when
too many runs fail, and stream outcomes as runs finish. They never decide what to run.
Ray is imported only when a :class:`RayExecutor` starts.
"""

from __future__ import annotations

from interphase.execution.base import Executor, RunTask, TaskOutcome
from interphase.execution.errors import ExecutionError, ExecutionHalted, TaskBrokenError, TaskRejectedError
from interphase.execution.failure_rate import DEFAULT_FAILURE_LIMIT, FailureRateGuard, FailureRateLimit
from interphase.execution.local import LocalExecutor, available_cpus
from interphase.execution.ray_executor import RayExecutor, start_local_ray
from interphase.execution.retry import DEFAULT_RETRY, RetryPolicy

__all__ = [
    "DEFAULT_FAILURE_LIMIT", "DEFAULT_RETRY", "ExecutionError", "ExecutionHalted", "Executor",
    "FailureRateGuard", "FailureRateLimit", "LocalExecutor", "RayExecutor", "RetryPolicy", "RunTask",
    "TaskBrokenError", "TaskOutcome", "TaskRejectedError", "available_cpus", "start_local_ray",
]
