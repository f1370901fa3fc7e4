"""Stop rules of a protocol, and where they cut a run's per-cycle observations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from interphase.schema import InvalidInputError, Observation, Protocol, StopRule, parse_model
from interphase.sources.stopping import StopOutcome, stop_outcome

pytestmark = pytest.mark.timeout(60)

STEPS = ("Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V")
RETENTION = "Capacity retention"
RESISTANCE = "Resistance [Ohm]"
CAPACITY = "Discharge capacity [A.h]"


def protocol(n_cycles: int = 10, **stop: Any) -> Protocol:
    """A two-step protocol; keyword arguments, if any, make its stop rule."""
    return Protocol(steps=STEPS, n_cycles=n_cycles, ambient_temperature_k=298.15,
                    stop=StopRule(**stop) if stop else None)


def per_cycle(observable: str, values: Sequence[float], unit: str = "") -> list[Observation]:
    """``values`` as the observations of cycles 1, 2, ..."""
    return [Observation(observable=observable, index=float(cycle), value=value, unit=unit)
            for cycle, value in enumerate(values, start=1)]


# Retention of a fading cell: below 0.8 first in cycle 5, above 1.0 only in cycle 1.
FADE = (1.05, 1.0, 0.95, 0.85, 0.79, 0.7, 0.75, 0.6)


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        ({"below": 0.8}, "observable", "needs the observable"),
        ({"above": 1.2, "at_cycle": 5}, "observable", "needs the observable"),
        ({"observable": RETENTION}, "below", "give 'below' or 'above'"),
        ({"observable": RETENTION, "at_cycle": 3}, "below", "give 'below' or 'above'"),
        ({"observable": RETENTION, "below": 0.8, "above": 1.2}, "above", "not both"),
        ({}, "at_cycle", "needs 'at_cycle' or an observable"),
        ({"at_cycle": 0}, "at_cycle", "greater than or equal to 1"),
        ({"at_cycle": 100_001}, "at_cycle", "less than or equal to 100000"),
        ({"observable": RETENTION, "below": float("nan")}, "below", "finite"),
        ({"observable": RETENTION, "above": float("inf")}, "above", "finite"),
        ({"observable": "", "below": 0.8}, "observable", "at least 1 character"),
        ({"at_cycle": 5, "after": 3}, "after", "unknown field; allowed fields: at_cycle"),
    ],
)
def test_an_invalid_rule_names_its_field(rule: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(StopRule, rule)
    assert info.value.field == field
    assert words in info.value.problem


def test_an_unknown_observable_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(StopRule, {"observable": "Happiness [1]", "below": 0.5})
    assert info.value.field == "observable"
    assert "unknown observable 'Happiness [1]'" in info.value.problem
    assert RETENTION in info.value.problem


def test_an_invalid_rule_inside_a_protocol_is_named_under_stop() -> None:
    data = {"steps": list(STEPS), "n_cycles": 10, "ambient_temperature_k": 298.15,
            "stop": {"observable": RETENTION, "below": 0.8, "above": 1.1}}
    with pytest.raises(InvalidInputError) as info:
        parse_model(Protocol, data)
    assert info.value.field == "stop.above"
    data["stop"] = {"below": 0.8}
    with pytest.raises(InvalidInputError) as info:
        parse_model(Protocol, data)
    assert info.value.field == "stop.observable"


@pytest.mark.parametrize(
    "rule",
    [
        {"at_cycle": 1},
        {"observable": RETENTION, "below": 0.8},
        {"observable": RESISTANCE, "above": 0.1, "at_cycle": 50},
    ],
)
def test_a_valid_rule_round_trips_through_json(rule: dict[str, Any]) -> None:
    parsed = parse_model(StopRule, rule)
    assert parsed.model_dump(exclude_none=True) == rule
    made = protocol(**rule)
    again = Protocol.model_validate_json(made.model_dump_json())
    assert again == made and again.stop == parsed


def test_a_rule_is_frozen() -> None:
    rule = StopRule(at_cycle=3)
    with pytest.raises(ValueError):
        rule.at_cycle = 4  # type: ignore[misc]


# ----------------------------------------------------------------- crossed, describe


def test_crossed_is_strict_on_either_side() -> None:
    below = StopRule(observable=RETENTION, below=0.8)
    assert below.crossed(0.7999) and below.crossed(-1.0)
    assert not below.crossed(0.8) and not below.crossed(0.81)
    above = StopRule(observable=RESISTANCE, above=0.05)
    assert above.crossed(0.0501) and not above.crossed(0.05) and not above.crossed(0.01)


def test_an_at_cycle_rule_is_never_crossed_by_a_value() -> None:
    rule = StopRule(at_cycle=7)
    assert not any(rule.crossed(value) for value in (-1e9, 0.0, 0.8, 1e9))


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"at_cycle": 20}, "at cycle 20"),
        ({"observable": RETENTION, "below": 0.8}, "when Capacity retention < 0.8"),
        ({"observable": RESISTANCE, "above": 0.0525}, "when Resistance [Ohm] > 0.0525"),
        ({"observable": RETENTION, "below": 0.8, "at_cycle": 300},
         "at cycle 300 or when Capacity retention < 0.8"),
    ],
)
def test_describe_says_the_rule_in_words(rule: dict[str, Any], words: str) -> None:
    assert StopRule(**rule).describe() == words


# ----------------------------------------------------------------- cycles_planned


@pytest.mark.parametrize(
    ("n_cycles", "stop", "planned"),
    [
        (200, {}, 200),
        (200, {"at_cycle": 20}, 20),
        (200, {"at_cycle": 200}, 200),
        (200, {"at_cycle": 500}, 200),
        (200, {"observable": RETENTION, "below": 0.8}, 200),  # a condition may never fire
        (200, {"observable": RETENTION, "below": 0.8, "at_cycle": 30}, 30),
        (1, {"at_cycle": 1}, 1),
    ],
)
def test_cycles_planned(n_cycles: int, stop: dict[str, Any], planned: int) -> None:
    assert protocol(n_cycles, **stop).cycles_planned == planned


def test_a_stop_rule_does_not_change_the_experiment_steps() -> None:
    # The source solves cycles_planned cycles; the protocol's own steps stay the full test.
    stopped = protocol(10, at_cycle=3)
    assert stopped.experiment_steps() == protocol(10).experiment_steps()
    assert len(stopped.experiment_steps()) == 10


# ----------------------------------------------------------------- stop_outcome


def test_without_a_rule_every_cycle_run_is_kept() -> None:
    observations = per_cycle(RETENTION, FADE)
    assert stop_outcome(observations, 8, protocol(10)) == StopOutcome(8, False, "")
    assert stop_outcome(observations, 8, protocol(8)) == StopOutcome(8, False, "")


def test_a_condition_stops_at_the_first_cycle_that_crosses() -> None:
    outcome = stop_outcome(per_cycle(RETENTION, FADE), 8, protocol(10, observable=RETENTION, below=0.8))
    assert (outcome.cycles, outcome.stopped) == (5, True)
    assert "Capacity retention crossed its threshold in cycle 5" in outcome.reason
    assert "when Capacity retention < 0.8" in outcome.reason


def test_an_above_condition_stops_at_the_first_rise() -> None:
    resistance = per_cycle(RESISTANCE, [0.030, 0.031, 0.029, 0.036, 0.041, 0.050], unit="ohm")
    rule = {"observable": RESISTANCE, "above": 0.035}
    outcome = stop_outcome(resistance, 6, protocol(10, **rule))
    assert (outcome.cycles, outcome.stopped) == (4, True)


def test_a_condition_on_an_observable_the_run_lacks_never_fires() -> None:
    outcome = stop_outcome(per_cycle(RETENTION, FADE), 8, protocol(10, observable=RESISTANCE, above=0.0))
    assert outcome == StopOutcome(8, False)


def test_only_cycle_indexed_observations_can_fire_a_condition() -> None:
    in_time = [Observation(observable=RETENTION, index=60.0, index_unit="s", value=0.1, unit="")]
    rule = {"observable": RETENTION, "below": 0.8}
    outcome = stop_outcome(in_time + per_cycle(RETENTION, FADE[:4]), 4, protocol(10, **rule))
    assert outcome == StopOutcome(4, False)


def test_at_cycle_stops_there() -> None:
    outcome = stop_outcome(per_cycle(RETENTION, FADE), 8, protocol(10, at_cycle=3))
    assert (outcome.cycles, outcome.stopped) == (3, True)
    assert outcome.reason == "stopped after cycle 3 as the protocol asked (stop at cycle 3)"


def test_at_cycle_stops_a_run_that_solved_only_the_planned_cycles() -> None:
    # A source solves cycles_planned cycles, so the run ends exactly at the rule.
    stopped = protocol(10, at_cycle=3)
    outcome = stop_outcome(per_cycle(RETENTION, FADE[:3]), stopped.cycles_planned, stopped)
    assert (outcome.cycles, outcome.stopped) == (3, True)


@pytest.mark.parametrize(
    ("at_cycle", "cycles", "fired_by"),
    [
        (4, 4, "protocol asked"),   # the cycle rule comes first
        (6, 5, "crossed"),          # the condition comes first
        (5, 5, "crossed"),          # a tie: the condition is the reason
        (1, 1, "protocol asked"),
    ],
)
def test_with_both_rules_the_earliest_wins(at_cycle: int, cycles: int, fired_by: str) -> None:
    rule = {"observable": RETENTION, "below": 0.8, "at_cycle": at_cycle}
    outcome = stop_outcome(per_cycle(RETENTION, FADE), 8, protocol(10, **rule))
    assert (outcome.cycles, outcome.stopped) == (cycles, True)
    assert fired_by in outcome.reason
    assert f"cycle {cycles}" in outcome.reason


@pytest.mark.parametrize(
    "rule",
    [
        {"at_cycle": 8},
        {"at_cycle": 9},
        {"observable": RETENTION, "below": 0.5},
        {"observable": RETENTION, "below": 0.5, "at_cycle": 7},
    ],
)
def test_a_rule_beyond_the_end_of_the_run_does_not_stop_it(rule: dict[str, Any]) -> None:
    # The run ended by itself after 6 cycles (e.g. the cell failed); the rule never fired.
    outcome = stop_outcome(per_cycle(RETENTION, FADE[:6]), 6, protocol(10, **rule))
    assert outcome == StopOutcome(6, False)


def test_a_crossing_after_the_cycles_run_is_ignored() -> None:
    # Observations of cycles that did not complete (a failed last cycle) cannot fire the rule.
    outcome = stop_outcome(per_cycle(RETENTION, FADE), 4, protocol(10, observable=RETENTION, below=0.8))
    assert outcome == StopOutcome(4, False)


@pytest.mark.parametrize(
    "rule",
    [
        {"at_cycle": 8},
        {"at_cycle": 20},
        {"observable": RETENTION, "below": 0.65},  # first crossed in cycle 8, the last one
        {"observable": RETENTION, "below": 0.65, "at_cycle": 8},
    ],
)
def test_stopping_at_the_last_planned_cycle_is_not_a_stop(rule: dict[str, Any]) -> None:
    outcome = stop_outcome(per_cycle(RETENTION, FADE), 8, protocol(8, **rule))
    assert outcome == StopOutcome(8, False)
