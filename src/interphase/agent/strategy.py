"""The interface every campaign strategy implements: trial and error, the BoTorch baselines, interphase.

The engine (``agent/engine.py``) calls a strategy at every event of the campaign's clock:

1. :meth:`Strategy.observe` after new results arrived (refit a model, update a GP);
2. :meth:`Strategy.review` with the running tests (stop some early);
3. :meth:`Strategy.propose` once per resource with free slots (what to launch there).

Everything a strategy returns is logged as a decision in the store before it takes effect,
so a strategy holds no state the campaign cannot rebuild: after a crash the engine calls
:meth:`observe` on the resumed view. Strategies register by name (:func:`register_strategy`),
and a duplicate name raises, as source plugins do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from interphase.agent.options import Proposal, StopOrder
from interphase.agent.view import CampaignView
from interphase.schema import InvalidInputError


class Strategy(ABC):
    """Decides what a campaign runs next.

    Args:
        settings: Strategy settings from the run configuration (``agent:`` block); each
            strategy documents and validates its own.
    """

    name: str = ""
    review_every_cycles: int = 0
    """Cycles between reviews of a running test (0: the strategy never stops tests)."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    def check_sources(self, sources: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Refuse settings that name a source the campaign does not have (before anything is written).

        Raises:
            InvalidInputError: Naming the setting (``agent.<name>``) and the sources there are.
        """

    def observe(self, view: CampaignView) -> None:  # noqa: B027 - optional hook
        """Learn from the results in ``view`` (called when new ones arrived, and on resume)."""

    def review(self, view: CampaignView) -> list[StopOrder]:
        """Tests to stop early, given what their first cycles show. None by default."""
        return []

    @abstractmethod
    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        """Runs to launch on ``resource``, which has ``slots`` free.

        Args:
            view: The campaign now.
            resource: A resource of ``view.capacity`` (a lab source's channels, or ``"cpu"``).
            slots: Free slots there (>= 1).

        Returns:
            A proposal of at most ``slots`` runs of sources on that resource, or None to
            leave the slots idle until the next event.
        """


StrategyFactory = Callable[[dict[str, Any]], Strategy]
_REGISTRY: dict[str, StrategyFactory] = {}


def register_strategy(name: str, factory: StrategyFactory) -> None:
    """Make a strategy available by name.

    Raises:
        ValueError: If the name is taken.
    """
    if name in _REGISTRY:
        raise ValueError(f"strategy {name!r} is already registered")
    _REGISTRY[name] = factory


def strategy_names() -> list[str]:
    """Registered strategy names."""
    _load_builtin()
    return sorted(_REGISTRY)


def make_strategy(name: str, settings: dict[str, Any] | None = None) -> Strategy:
    """A new strategy by name.

    Raises:
        InvalidInputError: For an unknown name (the message lists the known ones).
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise InvalidInputError("strategy", f"unknown strategy {name!r}; "
                                f"known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](dict(settings or {}))


def _load_builtin() -> None:
    """Import the built-in strategies (each registers itself on import)."""
    from interphase.agent import strategies  # noqa: F401
