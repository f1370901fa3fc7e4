"""The budget a campaign runs under: its configuration's, raised by every ``extended`` decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interphase.schema.run_config import Budget
from interphase.store import StoredDecision

EXTENDABLE = ("wall", "budget")
"""The ends of a campaign that more budget can undo."""


def budget_in_force(decisions: Sequence[StoredDecision],
                    budget: Budget) -> tuple[Budget, dict[str, Any] | None]:
    """The budget a campaign runs under now, and its ``finished`` decision if it stands ended.

    An ``extended`` decision raises the budget and reopens a finished campaign; a later
    ``finished`` ends it again.

    Args:
        decisions: The campaign's decisions, oldest first.
        budget: The budget of its run configuration.

    Returns:
        The latest extension's budget (else ``budget``), and the ``chosen`` of the last
        ``finished`` decision unless an extension came after it (else None).
    """
    ended = None
    for decision in decisions:
        kind = decision.chosen.get("kind")
        if kind == "finished":
            ended = decision.chosen
        elif kind == "extended":
            budget, ended = Budget.model_validate(decision.chosen["budget"]), None
    return budget, ended

