"""The halting rule: stop a batch when too large a fraction of its runs fail."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from interphase.execution.errors import ExecutionHalted
from interphase.schema import Result, ResultStatus

MESSAGES_REPORTED = 3


class FailureRateLimit(BaseModel):
    """When to halt: more than ``max_failure_rate`` of the runs failed, once ``min_runs`` ran.

    Runs are counted after their retries, so a transient failure that a retry fixed is
    a success. Stopped runs (ended early on purpose) are not failures.

    Attributes:
        max_failure_rate: Highest tolerated fraction of failed runs, in [0, 1].
        min_runs: Finished runs needed before the rule applies, so that the first
            failure of a batch does not halt it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_failure_rate: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    min_runs: int = Field(default=20, ge=1)


class FailureRateGuard:
    """Counts finished runs and raises :class:`ExecutionHalted` when the limit is crossed.

    Args:
        limit: The rule to apply.
    """

    def __init__(self, limit: FailureRateLimit) -> None:
        self.limit = limit
        self.runs = 0
        self.failure_messages: Counter[str] = Counter()

    @property
    def failures(self) -> int:
        """Failed runs counted since the last reset."""
        return sum(self.failure_messages.values())

    def observe(self, result: Result) -> None:
        """Count one finished run.

        Raises:
            ExecutionHalted: If the failure rate now exceeds the limit. The counts are
                reset first, so a caller that decides to go on starts a fresh window.
        """
        self.runs += 1
        if result.status is ResultStatus.FAILED:
            kind = result.failure_kind.value if result.failure_kind else "failed"
            self.failure_messages[f"{kind}: {result.message}"] += 1
        rate = self.failures / self.runs
        if self.runs >= self.limit.min_runs and rate > self.limit.max_failure_rate:
            halted = ExecutionHalted(rate, self.limit.max_failure_rate, self.runs, self.failures,
                                     tuple(self.failure_messages.most_common(MESSAGES_REPORTED)))
            self.reset()
            raise halted

    def reset(self) -> None:
        """Forget every run counted so far."""
        self.runs = 0
        self.failure_messages.clear()


DEFAULT_FAILURE_LIMIT = FailureRateLimit()
