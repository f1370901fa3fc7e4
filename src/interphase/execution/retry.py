"""Retry policy for transient failures: exponential backoff without jitter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from interphase.schema import FailureKind, InvalidInputError, Result, ResultStatus


class RetryPolicy(BaseModel):
    """How often and how late a transiently failed run is tried again.

    A retry reuses the task's seed, so a run that succeeds on its second attempt gives
    the same result it would have given on the first. The delays carry no jitter: a
    campaign replayed from its seed waits the same way, and the pools here are small
    enough that synchronised retries cannot stampede anything.

    Attributes:
        max_attempts: Attempts in all, the first included; 1 disables retries.
        base_delay_s: Wait before the second attempt, in seconds.
        multiplier: Each further wait is this many times the previous one.
        max_delay_s: Cap on any single wait, in seconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=3, ge=1, le=100)
    base_delay_s: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    multiplier: float = Field(default=2.0, ge=1.0, allow_inf_nan=False)
    max_delay_s: float = Field(default=60.0, ge=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _cap_covers_base(self) -> RetryPolicy:
        if self.max_delay_s < self.base_delay_s:
            raise InvalidInputError(
                "max_delay_s", f"must be >= base_delay_s ({self.base_delay_s:g} s), got {self.max_delay_s:g}")
        return self

    def should_retry(self, result: Result, attempt: int) -> bool:
        """Whether the run that gave ``result`` on attempt ``attempt`` (1-based) is retried.

        Only transient failures are: a deterministic one would fail again.
        """
        transient = result.status is ResultStatus.FAILED and result.failure_kind is FailureKind.TRANSIENT
        return transient and attempt < self.max_attempts

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        return min(self.max_delay_s, self.base_delay_s * self.multiplier ** (attempt - 1))


DEFAULT_RETRY = RetryPolicy()
