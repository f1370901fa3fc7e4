"""Simulate before you build: the lab's picks wait for their reference runs, a bounded number of rounds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from interphase.agent.shortlist import ReferenceShortlist
from interphase.sources.world import load_world

REFERENCE = "pybamm-spme"


class _View:
    """The two things the shortlist reads of a campaign: runs of a source, finished or running."""

    def __init__(self) -> None:
        self.done: list[Any] = []
        self.running: list[Any] = []

    def runs_of(self, source: str, *, running: bool = True) -> list[Any]:
        done = [r for r in self.done if r.source == source]
        return done + ([r for r in self.running if r.source == source] if running else [])

    def start(self, design: Any, source: str = REFERENCE) -> None:
        self.running.append(SimpleNamespace(design=design, source=source))

    def finish(self, design: Any, status: str = "succeeded") -> None:
        self.running = [r for r in self.running if r.design is not design]
        result = SimpleNamespace(status=SimpleNamespace(value=status))
        self.done.append(SimpleNamespace(design=design, source=REFERENCE, result=result))


def _designs(n: int) -> list[Any]:
    return load_world("sei-life").design_space.sample_sobol(n, seed=5)


def test_unsimulated_picks_hold_the_lab_until_their_runs_are_fitted() -> None:
    view, shortlist = _View(), ReferenceShortlist(rounds_allowed=3)
    a, b = _designs(2)
    assert shortlist.hold(view, REFERENCE, [a, b]) and shortlist.rounds == 1
    assert shortlist.wanted(view, REFERENCE, slots=1) == [a]
    view.start(a)
    assert shortlist.wanted(view, REFERENCE, slots=4) == [b]
    view.start(b)
    view.finish(a)
    assert shortlist.hold(view, REFERENCE, [a, b])  # b still runs
    assert not shortlist.ready_to_fit(view, REFERENCE)
    view.finish(b, status="failed")
    assert shortlist.ready_to_fit(view, REFERENCE)
    shortlist.fitted()
    assert not shortlist.ready_to_fit(view, REFERENCE)
    assert not shortlist.hold(view, REFERENCE, [a])  # simulated: the lab may launch it
    assert shortlist.simulated(view, REFERENCE) == [a]  # the failed run is no pick as it is
    shortlist.launched()
    assert shortlist.rounds == 0 and not shortlist.fresh


def test_the_lab_launches_anyway_after_the_last_round() -> None:
    view, shortlist = _View(), ReferenceShortlist(rounds_allowed=2)
    designs = _designs(3)
    for round_, design in enumerate(designs[:2], start=1):
        assert shortlist.hold(view, REFERENCE, [design]) and shortlist.rounds == round_
        view.start(design)
        view.finish(design)
        shortlist.fitted()
    assert not shortlist.hold(view, REFERENCE, [designs[2]])  # two rounds held: launch the new pick
    assert not shortlist.fresh


def test_a_pick_simulated_by_another_source_still_waits_for_the_reference() -> None:
    view, shortlist = _View(), ReferenceShortlist(rounds_allowed=1)
    (design,) = _designs(1)
    view.start(design, source="pybamm-spm")
    assert shortlist.hold(view, REFERENCE, [design])
    assert shortlist.wanted(view, REFERENCE, slots=2) == [design]
