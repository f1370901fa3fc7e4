"""The error hierarchy: one root, subclasses that say whether a retry can help."""

from __future__ import annotations


class InterphaseError(Exception):
    """Root of every error interphase raises on purpose.

    Attributes:
        retryable: True when repeating the same call later may succeed
            (a busy database, a lost connection); False when it never will.

    """

    retryable: bool = False


class InvalidInputError(InterphaseError, ValueError):
    """Input that breaks a declared constraint: a design, a config, a file.

    The message always names the offending field and what is allowed.

    Args:
        field: Dotted path of the offending field, e.g. ``"variables.0.lower"``.
        problem: What is wrong and what would be accepted.

    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class NotFoundError(InterphaseError, LookupError):
    """A record, campaign or source that the store does not hold."""


class ConflictError(InterphaseError):
    """An idempotency key reused with a different payload, or a duplicate name."""


class ImmutableRecordError(InterphaseError):
    """An attempt to change or delete a stored, immutable record."""


class StoreUnavailableError(InterphaseError):
    """The store could not be reached or was busy; a retry may succeed."""

    retryable = True
