"""Errors the executors raise; a failed *run* is a failed ``Result``, never one of these."""

from __future__ import annotations

from interphase.schema import InterphaseError, InvalidInputError


class ExecutionError(InterphaseError):
    """The executor could not attempt a task: a worker would not start, a source would not build.

    Repeating the same call fails the same way, so these are raised, not returned.
    """


class TaskBrokenError(ExecutionError):
    """One task could not be attempted (its worker or source broke); the others go on.

    Attributes:
        task_id: The task's identifier, as the caller gave it.
    """

    def __init__(self, task_id: str, message: str) -> None:
        self.task_id = task_id
        super().__init__(message)


class TaskRejectedError(InvalidInputError):
    """A source refused one task's input while running it; the others go on.

    Attributes:
        task_id: The task's identifier, as the caller gave it.
    """

    def __init__(self, task_id: str, field: str, problem: str) -> None:
        self.task_id = task_id
        super().__init__(field, problem)


class ExecutionHalted(ExecutionError):
    """Too many runs failed: the failure-rate limit stopped the batch.

    Attributes:
        failure_rate: Failed runs / finished runs when the limit tripped, in [0, 1].
        max_failure_rate: The configured threshold, in [0, 1].
        runs: Finished runs counted (after retries).
        failures: How many of them failed.
        common_messages: The most frequent failure messages with their counts.
    """

    def __init__(self, failure_rate: float, max_failure_rate: float, runs: int, failures: int,
                 common_messages: tuple[tuple[str, int], ...]) -> None:
        self.failure_rate = failure_rate
        self.max_failure_rate = max_failure_rate
        self.runs = runs
        self.failures = failures
        self.common_messages = common_messages
        listed = "; ".join(f"{count}x {message!r}" for message, count in common_messages)
        super().__init__(
            f"execution halted: {failures} of {runs} runs failed (failure rate {failure_rate:.1%}), "
            f"above the threshold of {max_failure_rate:.1%}; most common failures: {listed}"
        )
